// Package internal_test keeps internal/ a set of leaves: packages that
// production code may use, never importing the layers above them (the
// controllers, the binaries, the tests and their composition roots).
package internal_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tokenhook/tokenhook/"

func TestInternalImportsNoUpperLayer(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	upper := []string{module + "controllers", module + "cmd/", module + "test/", module + "hack/"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			for _, u := range upper {
				if strings.HasPrefix(imp, u) {
					t.Errorf("%s imports %s, a layer above internal/", f[0], imp)
				}
			}
		}
	}
}

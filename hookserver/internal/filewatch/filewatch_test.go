package filewatch

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReloaderAppliesOnlyChangedContents(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "1")
	var applied []string
	var reported []error
	r := NewReloader([]string{a, b}, func(c [][]byte) error {
		applied = append(applied, string(c[0])+"|"+string(c[1]))
		if string(c[1]) == "bad" {
			return errors.New("bad contents")
		}
		return nil
	}, func(err error, _ time.Duration) { reported = append(reported, err) })

	steps := []struct {
		do          func()
		wantApplied int
		wantReports int
		wantErr     bool
	}{
		{func() {}, 0, 1, true},                 // b is missing: reported
		{func() {}, 0, 1, true},                 // same failure: not reported again
		{func() { write(b, "x") }, 1, 2, false}, // applied
		{func() {}, 1, 2, false},                // unchanged: nothing
		{func() { write(b, "bad") }, 2, 3, true},
		{func() {}, 2, 3, false}, // the same bad contents are not retried
		{func() { write(a, "2") }, 3, 4, true},
		{func() { write(b, "y") }, 4, 5, false},
	}
	for i, s := range steps {
		s.do()
		err := r.Reload()
		if (err != nil) != s.wantErr || len(applied) != s.wantApplied || len(reported) != s.wantReports {
			t.Fatalf("step %d: err %v, %d applied, %d reported; want err %v, %d, %d",
				i, err, len(applied), len(reported), s.wantErr, s.wantApplied, s.wantReports)
		}
	}
}

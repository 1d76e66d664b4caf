package kubectlplugin

import (
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// keyPaths lists the dotted paths of every object key in a JSON document.
func keyPaths(t *testing.T, b []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var paths []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, child := range m {
				paths = append(paths, prefix+k)
				walk(prefix+k+".", child)
			}
		}
	}
	walk("", doc)
	sort.Strings(paths)
	return paths
}

func TestPreviewEventShape(t *testing.T) {
	example, err := os.ReadFile("../hookserver/testdata/token-hook-request.json")
	if err != nil {
		t.Fatal(err)
	}
	known := keyPaths(t, example)
	// Okta sends grant_type on token requests; its documented example is an
	// implicit-flow authorize request, which has none.
	known = append(known, "data.context.protocol.request.grant_type")

	th := testTokenHook()
	cases := map[string]struct {
		tokens     []protocol.Token
		wantID     bool
		wantAccess bool
	}{
		"Both":   {tokens: []protocol.Token{protocol.IDToken, protocol.AccessToken}, wantID: true, wantAccess: true},
		"ID":     {tokens: []protocol.Token{protocol.IDToken}, wantID: true},
		"Access": {tokens: []protocol.Token{protocol.AccessToken}, wantAccess: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(previewEvent(th, "ada@example.com", tc.tokens, time.Unix(1_700_000_000, 0)))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range keyPaths(t, b) {
				if !slices.Contains(known, p) {
					t.Errorf("the preview event has %s, which Okta's documented event does not", p)
				}
			}
			// What the hook server reads from it (the same one-pass reader).
			s, err := protocol.ReadSummary(b)
			if err != nil {
				t.Fatalf("ReadSummary: %v", err)
			}
			got := map[string]any{
				"eventType": string(s.EventType), "login": string(s.Login()), "endUser": s.HasEndUser(),
				"id": s.HasIDToken, "access": s.HasAccessToken, "preview": strings.HasPrefix(string(s.EventID), previewEventIDPfx),
			}
			want := map[string]any{
				"eventType": protocol.EventType, "login": "ada@example.com", "endUser": true,
				"id": tc.wantID, "access": tc.wantAccess, "preview": true,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the hook server's reading of the preview event (-want +got):\n%s", diff)
			}
			if _, probe := protocol.ProbeNonce(&s); probe {
				t.Error("the preview event passes for the operator's route check")
			}
		})
	}
}

func TestRootCommand(t *testing.T) {
	env := &Env{Client: fakeClient(t)}
	out, _, err := runCmd(t, env, "--help")
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"kubectl tokenhook [command]", "preview", "status", "--kubeconfig", "--context", "-n, --namespace"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not show %q:\n%s", want, out)
		}
	}
	if _, _, err := runCmd(t, env, "preview", testName, "-n", testNS); err == nil || !strings.Contains(err.Error(), `required flag(s) "login" not set`) {
		t.Errorf("preview without --login: %v; want the required flag named", err)
	}
}

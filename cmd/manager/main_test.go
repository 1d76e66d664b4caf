package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Outside a pod there is no namespace to read, so leader election needs one
// named; the error says which flag.
func TestLeaderElectionOutsideAPodNamesTheFlag(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("POD_NAMESPACE", "")
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	os.Args = []string{"manager", "--leader-elect", "--hookserver-image=tokenhook:test", "--metrics-bind-address=0", "--health-probe-bind-address=0"}
	err := run()
	if err == nil || !strings.Contains(err.Error(), "--leader-election-namespace") {
		t.Fatalf("run() = %v, want an error naming --leader-election-namespace", err)
	}
}

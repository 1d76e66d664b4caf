package faults

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// TestWatchNamespacesNeedsOnlyRoles runs a manager scoped to one namespace
// under an identity that holds the manager's rules there and nothing else:
// it makes its TokenHook Ready, and ignores one in another namespace.
func TestWatchNamespacesNeedsOnlyRoles(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	watched, other := newFixture(t, 1), newFixture(t, 1)

	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(raw, role); err != nil {
		t.Fatal(err)
	}
	role.ObjectMeta = metav1.ObjectMeta{Name: "scoped-manager-" + watched.ns}
	user := "scoped-manager-" + watched.ns
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "scoped-manager", Namespace: watched.ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	if err := k8s.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), role) })
	if err := k8s.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	// The role binding reads as a namespaced grant only: the identity
	// cannot even list TokenHooks cluster-wide.
	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}

	startManager(t, "scoped", managerOptions{config: cfg, watchNamespaces: []string{watched.ns}})
	watched.create(0)
	other.create(0)
	eventually(t, waitFor, func() error { return watched.ready(0) })

	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		th, err := other.get(0)
		if err != nil {
			t.Fatal(err)
		}
		if len(th.Finalizers) > 0 || len(th.Status.Conditions) > 0 {
			t.Fatalf("the TokenHook outside the watched namespace was reconciled: finalizers %v, conditions %v", th.Finalizers, th.Status.Conditions)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, h := range sim.Hooks() {
		if h.Name == other.hookName(0) {
			t.Errorf("Okta got a hook for the unwatched namespace: %s", h.Name)
		}
	}
}

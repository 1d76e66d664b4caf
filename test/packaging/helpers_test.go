// Package packaging tests how users install tokenhook: the Helm chart
// (lint, values schema, install, upgrade and uninstall), kustomize's
// config/default (server-side apply), the samples in config/samples, and the
// container image (the daemonless OCI tarball, and the Dockerfile's build
// context). Installs run against envtest's kube-apiserver, which also enforces
// RBAC and Pod Security admission.
//
// helm and kustomize come from $HELM and $KUSTOMIZE (set by 'make
// test-envtest'), else from bin/; when missing, the tests skip, or fail under
// CI.
package packaging

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// repoPath is a path in the repository.
func repoPath(elem ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot()}, elem...)...)
}

// tool finds a binary: $envVar, else bin/<name>; else the test skips (fails
// under CI).
func tool(t testing.TB, envVar, name string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", envVar, p, err)
		}
		return p
	}
	p := repoPath("bin", name)
	if _, err := os.Stat(p); err != nil {
		testenv.Unavailable(t, fmt.Errorf("no %s: set %s or run 'make %s'", name, envVar, name))
	}
	return p
}

// helmHome keeps helm away from the user's repositories and caches.
var helmHome string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tokenhook-helm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	helmHome = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// run runs a command in the repository and returns its stdout; the error
// carries stderr.
func run(ctx context.Context, stdin []byte, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// helm runs the helm CLI.
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := tool(t, "HELM", "helm")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return run(ctx, nil, []string{
		"HELM_CACHE_HOME=" + filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME=" + filepath.Join(helmHome, "data"),
	}, bin, args...)
}

// kustomizeBuild runs 'kustomize build dir'.
func kustomizeBuild(t testing.TB, dir string) []byte {
	t.Helper()
	bin := tool(t, "KUSTOMIZE", "kustomize")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := run(ctx, nil, nil, bin, "build", dir)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(out)
}

// decodeObjects splits a multi-document YAML stream into objects.
func decodeObjects(t testing.TB, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decode manifests: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// readObjects decodes the objects of a YAML file in the repository.
func readObjects(t testing.TB, elem ...string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(repoPath(elem...))
	if err != nil {
		t.Fatal(err)
	}
	return decodeObjects(t, data)
}

// find returns the one object of a kind and name.
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			if found != nil {
				t.Fatalf("two %s %s", kind, name)
			}
			found = o
		}
	}
	if found == nil {
		t.Fatalf("no %s %s in %s", kind, name, describe(objs))
	}
	return found
}

// ofKind returns the objects of a kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func describe(objs []*unstructured.Unstructured) string {
	s := make([]string, len(objs))
	for i, o := range objs {
		s[i] = o.GetKind() + "/" + o.GetName()
	}
	sort.Strings(s)
	return "[" + strings.Join(s, " ") + "]"
}

// convert turns an unstructured object into a typed one.
func convert[T any](t testing.TB, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// subset lists where want is not contained in got: every map key of want
// must be in got with a contained value, lists must have the same length and
// contained elements, and scalars must be equal (numbers by value). The API
// server adds defaults and metadata, never the other way round.
func subset(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %T, want an object", path, got)}
		}
		var diffs []string
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				if wv == nil {
					continue
				}
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			diffs = append(diffs, subset(wv, gv, path+"."+k)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, subset(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return diffs
	default:
		if wn, ok := number(want); ok {
			if gn, ok := number(got); ok && wn == gn {
				return nil
			}
		} else if reflect.DeepEqual(want, got) {
			return nil
		}
		return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
	}
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	default:
		return 0, false
	}
}

// cluster is an envtest control plane with an admin kubeconfig for the CLIs.
type cluster struct {
	k8s        client.Client
	kubeconfig string
	kubectlBin string
	cacheDir   string
}

// startCluster starts a control plane without any CRD: the installs under
// test bring their own.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	env, err := testenv.New()
	if err != nil {
		testenv.Unavailable(t, err)
	}
	env.CRDDirectoryPaths, env.ErrorIfCRDPathMissing = nil, false
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop envtest control plane: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &cluster{kubeconfig: filepath.Join(dir, "kubeconfig"), cacheDir: filepath.Join(dir, "kube-cache")}
	if err := os.WriteFile(c.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	assets, err := testenv.Assets()
	if err != nil {
		t.Fatal(err)
	}
	c.kubectlBin = filepath.Join(assets, "kubectl")
	if c.k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		t.Fatal(err)
	}
	return c
}

// kubectl runs kubectl against the cluster.
func (c *cluster) kubectl(t testing.TB, stdin []byte, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"--kubeconfig=" + c.kubeconfig, "--cache-dir=" + c.cacheDir}, args...)
	return run(ctx, stdin, nil, c.kubectlBin, args...)
}

// helm runs helm against the cluster.
func (c *cluster) helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return helm(t, append(args, "--kubeconfig="+c.kubeconfig)...)
}

func keyOf(namespace, name string) client.ObjectKey {
	return client.ObjectKey{Namespace: namespace, Name: name}
}

// get reads an object's live state.
func (c *cluster) get(ctx context.Context, o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(o.GroupVersionKind())
	err := c.k8s.Get(ctx, client.ObjectKeyFromObject(o), live)
	return live, err
}

// assertLive checks that every object exists as rendered.
func (c *cluster) assertLive(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		live, err := c.get(ctx, o)
		if err != nil {
			t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
			continue
		}
		want := o.DeepCopy().Object
		delete(want, "status")
		for _, d := range subset(want, live.Object, "") {
			t.Errorf("%s %s/%s differs from its manifest at %s", o.GetKind(), o.GetNamespace(), o.GetName(), d)
		}
	}
}

// waitEstablished waits until the API server serves a CRD.
func (c *cluster) waitEstablished(t *testing.T, name string) {
	t.Helper()
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	crd.SetName(name)
	deadline := time.Now().Add(30 * time.Second)
	for {
		live, err := c.get(context.Background(), crd)
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("CRD %s not established after 30s (last error: %v)", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restrictedNamespace enforces the "restricted" Pod Security Standard.
const restrictedNamespace = "psa-restricted"

// assertRestricted checks, by a dry-run Pod in a namespace that enforces the
// "restricted" Pod Security Standard, that the API server's Pod Security
// admission admits the Deployment's pods. It first checks that a privileged
// pod is refused there, so that the check cannot pass by being off.
func (c *cluster) assertRestricted(t *testing.T, deploy *unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: restrictedNamespace, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	if err := c.k8s.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		t.Fatal(err)
	}
	privileged := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "privileged-", Namespace: restrictedNamespace},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "example.com/c:1",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		}}},
	}
	if err := c.k8s.Create(ctx, privileged, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "PodSecurity") {
		t.Fatalf("a privileged pod in %s: %v, want a PodSecurity rejection (is the admission plugin on?)", restrictedNamespace, err)
	}
	d := convert[appsv1.Deployment](t, deploy)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: d.Name + "-", Namespace: restrictedNamespace, Labels: d.Spec.Template.Labels},
		Spec:       d.Spec.Template.Spec,
	}
	if err := c.k8s.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the pods of Deployment %s break the restricted Pod Security Standard: %v", d.Name, err)
	}
}

// allowed asks the API server's RBAC whether a ServiceAccount may do
// something.
func (c *cluster) allowed(t *testing.T, saNamespace, saName string, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               "system:serviceaccount:" + saNamespace + ":" + saName,
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + saNamespace, "system:authenticated"},
		ResourceAttributes: &attrs,
	}}
	if err := c.k8s.Create(context.Background(), sar); err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return sar.Status.Allowed
}

// assertOperatorRBAC checks what the operator's ServiceAccount may do: in any
// namespace, exactly the verbs config/rbac/role.yaml grants on its resources
// (over the usual verbs); Leases and Events only in its own namespace.
func (c *cluster) assertOperatorRBAC(t *testing.T, saNamespace, saName string) {
	t.Helper()
	role := convert[rbacv1.ClusterRole](t, readObjects(t, "config", "rbac", "role.yaml")[0])
	type key struct{ group, resource, subresource string }
	granted := map[key]map[string]bool{}
	for _, r := range role.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				resource, sub, _ := strings.Cut(res, "/")
				k := key{g, resource, sub}
				if granted[k] == nil {
					granted[k] = map[string]bool{}
				}
				for _, v := range r.Verbs {
					granted[k][v] = true
				}
			}
		}
	}
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	for k, grantedVerbs := range granted {
		var want []string
		for _, v := range verbs {
			if grantedVerbs[v] {
				want = append(want, v)
			}
		}
		for _, ns := range []string{"", "team-a"} {
			var got []string
			for _, v := range verbs {
				if c.allowed(t, saNamespace, saName, authorizationv1.ResourceAttributes{
					Namespace: ns, Verb: v, Group: k.group, Resource: k.resource, Subresource: k.subresource,
				}) {
					got = append(got, v)
				}
			}
			if !slices.Equal(got, want) {
				res := k.group + "/" + k.resource
				if k.subresource != "" {
					res += "/" + k.subresource
				}
				t.Errorf("the operator may %v on %s in namespace %q; config/rbac/role.yaml grants %v", got, res, ns, want)
			}
		}
	}
	leaderElection := []struct {
		ns, group, resource, verb string
		want                      bool
	}{
		{saNamespace, "coordination.k8s.io", "leases", "create", true},
		{saNamespace, "coordination.k8s.io", "leases", "update", true},
		{saNamespace, "", "events", "create", true},
		{"team-a", "coordination.k8s.io", "leases", "create", false},
		{"", "coordination.k8s.io", "leases", "list", false},
	}
	for _, le := range leaderElection {
		got := c.allowed(t, saNamespace, saName, authorizationv1.ResourceAttributes{
			Namespace: le.ns, Verb: le.verb, Group: le.group, Resource: le.resource,
		})
		if got != le.want {
			t.Errorf("operator may %s %s/%s in namespace %q: %v, want %v", le.verb, le.group, le.resource, le.ns, got, le.want)
		}
	}
}

// toYAML renders an object for error messages and kubectl.
func toYAML(t testing.TB, o any) []byte {
	t.Helper()
	b, err := yaml.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

package packaging

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/hookserver/patients"
)

const (
	operatorNamespace = "tokenhook-system"
	operatorName      = "tokenhook-controller-manager"
)

// TestKustomizeDefault checks config/default as rendered: names, namespace,
// the manager Deployment's settings and its RBAC wiring.
func TestKustomizeDefault(t *testing.T) {
	t.Parallel()
	objs := decodeObjects(t, kustomizeBuild(t, repoPath("config", "default")))

	t.Run("namespace and names", func(t *testing.T) {
		ns := find(t, objs, "Namespace", operatorNamespace)
		if ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("Namespace labels %v, want the restricted Pod Security Standard enforced", ns.GetLabels())
		}
		for _, o := range objs {
			if o.GetKind() != "CustomResourceDefinition" && !strings.HasPrefix(o.GetName(), "tokenhook-") {
				t.Errorf("%s %s lacks the tokenhook- prefix", o.GetKind(), o.GetName())
			}
			cluster := o.GetKind() == "Namespace" || o.GetKind() == "CustomResourceDefinition" || strings.HasPrefix(o.GetKind(), "Cluster")
			if !cluster && o.GetNamespace() != operatorNamespace {
				t.Errorf("%s %s is in namespace %q, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), operatorNamespace)
			}
		}
		find(t, objs, "ClusterRole", "tokenhook-manager-role")
	})

	t.Run("manager Deployment", func(t *testing.T) {
		d := convert[appsv1.Deployment](t, find(t, objs, "Deployment", operatorName))
		c := d.Spec.Template.Spec.Containers[0]
		if c.Name != "manager" || !slices.Equal(c.Command, []string{"/manager"}) {
			t.Errorf("container %q runs %q, want manager running /manager", c.Name, c.Command)
		}
		if img := hookServerImage(c); img != c.Image || c.Image == "" {
			t.Errorf("TOKENHOOK_IMAGE = %q, want the manager's image %q", img, c.Image)
		}
		for _, arg := range []string{"--leader-elect", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081"} {
			if !slices.Contains(c.Args, arg) {
				t.Errorf("args %q lack %s", c.Args, arg)
			}
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("probes: liveness %+v, readiness %+v", c.LivenessProbe, c.ReadinessProbe)
		}
		sc := c.SecurityContext
		if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot ||
			!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container securityContext = %+v", sc)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
			t.Errorf("resources = %+v, want CPU and memory requests and a memory limit", c.Resources)
		}
		if d.Spec.Template.Spec.ServiceAccountName != operatorName {
			t.Errorf("serviceAccountName = %q, want %s", d.Spec.Template.Spec.ServiceAccountName, operatorName)
		}
		svc := convert[corev1.Service](t, find(t, objs, "Service", "tokenhook-controller-manager-metrics-service"))
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || svc.Spec.Ports[0].TargetPort.StrVal != "metrics" {
			t.Errorf("metrics Service %+v does not reach the pods %v", svc.Spec, d.Spec.Template.Labels)
		}
	})

	t.Run("RBAC wiring", func(t *testing.T) {
		role := convert[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", "tokenhook-manager-role"))
		generated := convert[rbacv1.ClusterRole](t, readObjects(t, "config", "rbac", "role.yaml")[0])
		if diff := cmp.Diff(generated.Rules, role.Rules); diff != "" {
			t.Errorf("rules differ from config/rbac/role.yaml (-generated +deployed):\n%s", diff)
		}
		sa := rbacv1.Subject{Kind: "ServiceAccount", Name: operatorName, Namespace: operatorNamespace}
		crb := convert[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", "tokenhook-manager-rolebinding"))
		rb := convert[rbacv1.RoleBinding](t, find(t, objs, "RoleBinding", "tokenhook-leader-election-rolebinding"))
		for _, b := range []struct {
			name     string
			roleRef  rbacv1.RoleRef
			subjects []rbacv1.Subject
			wantRole string
		}{
			{crb.Name, crb.RoleRef, crb.Subjects, "tokenhook-manager-role"},
			{rb.Name, rb.RoleRef, rb.Subjects, "tokenhook-leader-election-role"},
		} {
			if b.roleRef.Name != b.wantRole || !slices.Equal(b.subjects, []rbacv1.Subject{sa}) {
				t.Errorf("%s binds %s to %+v, want %s to %+v", b.name, b.roleRef.Name, b.subjects, b.wantRole, sa)
			}
		}
	})
}

// TestKustomizeSetImage checks that 'kustomize edit set image' (what 'make
// deploy IMG=...' runs) changes the manager's image and the hook servers'
// (TOKENHOOK_IMAGE) together.
func TestKustomizeSetImage(t *testing.T) {
	t.Parallel()
	bin := tool(t, "KUSTOMIZE", "kustomize")
	cases := map[string]string{
		"tag":    "registry.example.com/platform/tokenhook:v1.2.3",
		"digest": "registry.example.com/tokenhook@sha256:" + strings.Repeat("0f", 32),
	}
	for name, image := range cases {
		t.Run(name, func(t *testing.T) {
			config := filepath.Join(t.TempDir(), "config")
			copyDir(t, repoPath("config"), config)
			edit := exec.Command(bin, "edit", "set", "image", "controller="+image)
			edit.Dir = filepath.Join(config, "manager")
			if out, err := edit.CombinedOutput(); err != nil {
				t.Fatalf("kustomize edit set image: %v\n%s", err, out)
			}
			objs := decodeObjects(t, kustomizeBuild(t, filepath.Join(config, "default")))
			c := convert[appsv1.Deployment](t, find(t, objs, "Deployment", operatorName)).Spec.Template.Spec.Containers[0]
			if c.Image != image || hookServerImage(c) != image {
				t.Errorf("image %q, TOKENHOOK_IMAGE %q, want both %q", c.Image, hookServerImage(c), image)
			}
		})
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSamplesParse checks the samples without an API server: the TokenHook
// has no unknown fields, and the patient list parses as the hook server
// parses it.
func TestSamplesParse(t *testing.T) {
	t.Parallel()
	objs := decodeObjects(t, kustomizeBuild(t, repoPath("config", "samples")))
	if len(objs) != 3 {
		t.Fatalf("config/samples has %s, want a ConfigMap, a Secret and a TokenHook", describe(objs))
	}
	th := find(t, objs, "TokenHook", "patient-id")
	var spec v1.TokenHook
	if err := yaml.UnmarshalStrict(toYAML(t, th.Object), &spec); err != nil {
		t.Fatalf("the sample TokenHook: %v", err)
	}
	cmRef := spec.Spec.Patients.ConfigMapRef
	cm := convert[corev1.ConfigMap](t, find(t, objs, "ConfigMap", cmRef.Name))
	list, err := patients.Parse([]byte(cm.Data[cmRef.Key]))
	if err != nil {
		t.Fatalf("the sample patient list %s/%s: %v", cmRef.Name, cmRef.Key, err)
	}
	if list.Len() < 3 {
		t.Errorf("the sample patient list has %d patients, want a few", list.Len())
	}
	secret := convert[corev1.Secret](t, find(t, objs, "Secret", spec.Spec.Okta.CredentialsSecretRef.Name))
	if _, ok := secret.StringData["apiToken"]; !ok {
		t.Errorf("the credentials Secret template has keys %v, want apiToken", secret.StringData)
	}
	if spec.Spec.Okta.Policy.Name != "Default Policy" || spec.Spec.Okta.Rule.Name != "Default Policy Rule" || spec.Spec.Okta.AuthorizationServerID != "default" {
		t.Errorf("the sample's okta = %+v, want Okta's defaults", spec.Spec.Okta)
	}
}

// TestKustomizeInstall applies config/default with server-side apply, as
// 'make deploy' does, then the samples, as a user would next.
func TestKustomizeInstall(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	manifests := kustomizeBuild(t, repoPath("config", "default"))
	objs := decodeObjects(t, manifests)

	t.Run("deploy", func(t *testing.T) {
		out, err := c.kubectl(t, manifests, "apply", "--server-side", "--field-manager=tokenhook-deploy", "-f", "-")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(out, "serverside-applied"); got != len(objs) {
			t.Errorf("kubectl applied %d objects, want %d:\n%s", got, len(objs), out)
		}
		c.assertLive(t, objs)
		c.waitEstablished(t, "tokenhooks.tokenhook.io")
	})
	if t.Failed() {
		return
	}
	t.Run("pods meet the restricted Pod Security Standard", func(t *testing.T) {
		c.assertRestricted(t, find(t, objs, "Deployment", operatorName))
	})
	t.Run("operator RBAC", func(t *testing.T) {
		c.assertOperatorRBAC(t, operatorNamespace, operatorName)
	})
	t.Run("deploy again", func(t *testing.T) {
		// 'make deploy' twice: the same field manager re-applies without conflicts.
		out, err := c.kubectl(t, manifests, "apply", "--server-side", "--field-manager=tokenhook-deploy", "-f", "-")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(out, "serverside-applied"); got != len(objs) {
			t.Errorf("kubectl applied %d objects, want %d:\n%s", got, len(objs), out)
		}
	})

	const ns = "samples"
	samples := kustomizeBuild(t, repoPath("config", "samples"))
	t.Run("samples", func(t *testing.T) {
		if _, err := c.kubectl(t, nil, "create", "namespace", ns); err != nil {
			t.Fatal(err)
		}
		if _, err := c.kubectl(t, samples, "apply", "--server-side", "--namespace", ns, "-f", "-"); err != nil {
			t.Fatalf("the samples were refused: %v", err)
		}
		want := decodeObjects(t, samples)
		for _, o := range want {
			o.SetNamespace(ns)
			if o.GetKind() == "Secret" {
				// stringData is write-only: the API server stores it as data.
				delete(o.Object, "stringData")
			}
		}
		c.assertLive(t, want)
		th := &v1.TokenHook{}
		if err := c.k8s.Get(context.Background(), keyOf(ns, "patient-id"), th); err != nil {
			t.Fatal(err)
		}
		if th.Spec.DeletionPolicy != v1.DeletionPolicyDelete || th.Spec.AuthHeader != "Authorization" {
			t.Errorf("the sample TokenHook was not defaulted: %+v", th.Spec)
		}
	})

	// Broken variants of the sample TokenHook, each refused by the CRD's
	// validation with a message that names the field.
	sample := find(t, decodeObjects(t, samples), "TokenHook", "patient-id")
	cases := map[string]struct {
		mutate func(u *unstructured.Unstructured)
		want   []string
	}{
		"org URL left as http": {
			mutate: set("http://dev-000000.okta.com", "spec", "okta", "orgURL"),
			want:   []string{"spec.okta.orgURL"},
		},
		"external URL without https": {
			mutate: set("tokenhook.example.com/tokenHook", "spec", "hookServer", "externalURL"),
			want:   []string{"spec.hookServer.externalURL"},
		},
		"policy by name and id": {
			mutate: set("00p1a2b3c4d5e6f7g8h9", "spec", "okta", "policy", "id"),
			want:   []string{"spec.okta.policy", "set exactly one of name or id"},
		},
		"no credentials Secret": {
			mutate: remove("spec", "okta", "credentialsSecretRef"),
			want:   []string{"spec.okta.credentialsSecretRef", "Required value"},
		},
		"no hook server replicas": {
			mutate: set(int64(0), "spec", "hookServer", "replicas"),
			want:   []string{"spec.hookServer.replicas"},
		},
		"claim reserved by Okta": {
			mutate: set("sub", "spec", "claim", "name"),
			want:   []string{"spec.claim", "reserved by Okta"},
		},
		"unknown token type": {
			mutate: set([]any{"Refresh"}, "spec", "claim", "tokens"),
			want:   []string{"spec.claim.tokens[0]", "Unsupported value"},
		},
		"misspelled field": {
			mutate: set("default", "spec", "okta", "authorizationServerId"),
			want:   []string{".spec.okta.authorizationServerId", "field not declared in schema"},
		},
	}
	for name, tc := range cases {
		t.Run("rejects "+name, func(t *testing.T) {
			broken := sample.DeepCopy()
			broken.SetName("broken")
			tc.mutate(broken)
			out, err := c.kubectl(t, toYAML(t, broken.Object), "apply", "--server-side", "--namespace", ns, "-f", "-")
			if err == nil {
				t.Fatalf("the API server accepted it:\n%s", out)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("the error does not name %q: %v", want, err)
				}
			}
		})
	}
}

func set(value any, path ...string) func(*unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedField(u.Object, value, path...); err != nil {
			panic(err)
		}
	}
}

func remove(path ...string) func(*unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, path...) }
}

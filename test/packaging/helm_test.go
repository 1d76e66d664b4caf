package packaging

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const chartDir = "charts/tokenhook"

// appVersion is the chart's appVersion: the default image tag.
func appVersion(t *testing.T) string {
	t.Helper()
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	data := toYAML(t, readObjects(t, chartDir, "Chart.yaml")[0].Object)
	if err := yaml.Unmarshal(data, &chart); err != nil || chart.AppVersion == "" {
		t.Fatalf("Chart.yaml appVersion: %q, %v", chart.AppVersion, err)
	}
	return chart.AppVersion
}

// render runs 'helm template' in namespace tokenhook-system.
func render(t *testing.T, release string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir, "--namespace", "tokenhook-system"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decodeObjects(t, []byte(out))
}

// goodValuesFiles are the values files the chart must accept.
func goodValuesFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{
		filepath.Join(chartDir, "ci", "*.yaml"),
		filepath.Join("test", "packaging", "testdata", "values", "good", "*.yaml"),
	} {
		m, err := filepath.Glob(repoPath(pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found only %d good values files", len(files))
	}
	return files
}

func TestHelmLint(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{"default values": nil}
	for _, f := range goodValuesFiles(t) {
		cases[filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f)] = []string{"--values", f}
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			if out, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if objs := render(t, "tokenhook", args...); len(ofKind(objs, "Deployment")) != 1 {
				t.Fatalf("rendered %s, want one Deployment", describe(objs))
			}
		})
	}
}

func TestHelmValuesSchemaRejectsBadValues(t *testing.T) {
	t.Parallel()
	// Each bad values file and a part of the message that names its field.
	cases := map[string]string{
		"replicas-zero.yaml":                    "at '/replicas': minimum: got 0, want 1",
		"replicas-string.yaml":                  "at '/replicas': got string, want integer",
		"pull-policy.yaml":                      "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
		"unknown-top-level-key.yaml":            "additional properties 'replica' not allowed",
		"unknown-nested-key.yaml":               "at '/metrics': additional properties 'servicemonitor' not allowed",
		"crds-enabled-string.yaml":              "at '/crds/enabled': got string, want boolean",
		"drift-interval.yaml":                   "at '/manager/driftInterval'",
		"log-level.yaml":                        "at '/manager/logLevel'",
		"metrics-port.yaml":                     "at '/metrics/port': maximum",
		"image-digest.yaml":                     "at '/image/digest'",
		"memory-limit.yaml":                     "at '/resources/limits/memory'",
		"extra-args.yaml":                       "at '/manager/extraArgs/0'",
		"node-selector.yaml":                    "at '/nodeSelector/disks': got number, want string",
		"replicas-without-leader-election.yaml": "at '/leaderElection/enabled': value must be true",
		"service-account-without-name.yaml":     "at '/serviceAccount/name': minLength: got 0, want 1",
		"service-monitor-without-metrics.yaml":  "at '/metrics/enabled': value must be true",
		"metrics-on-health-port.yaml":           "at '/metrics/port': 'not' failed",
		"pod-monitor-interval.yaml":             "at '/hookServer/podMonitor/interval': got number, want string",
	}
	files, err := filepath.Glob(repoPath("test", "packaging", "testdata", "values", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := cases[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected message in this test", f)
		}
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			values := repoPath("test", "packaging", "testdata", "values", "bad", file)
			for _, cmd := range [][]string{
				{"template", "tokenhook", chartDir, "--values", values},
				{"lint", "--strict", chartDir, "--values", values},
			} {
				out, err := helm(t, cmd...)
				if err == nil {
					t.Fatalf("helm %s accepted %s", cmd[0], file)
				}
				if msg := out + err.Error(); !strings.Contains(msg, want) {
					t.Errorf("helm %s: the error does not contain %q:\n%s", cmd[0], want, msg)
				}
			}
		})
	}
}

// TestChartMatchesConfig checks that the chart installs the very CRD and
// RBAC rules of config/ (hack/sync-chart.sh copies the generated ones; the
// leader election and aggregated roles are written twice).
func TestChartMatchesConfig(t *testing.T) {
	t.Parallel()
	objs := render(t, "tokenhook")

	t.Run("CRD", func(t *testing.T) {
		want := readObjects(t, "config", "crd", "bases", "tokenhook.io_tokenhooks.yaml")[0]
		got := find(t, objs, "CustomResourceDefinition", want.GetName()).DeepCopy()
		ann := got.GetAnnotations()
		if ann["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD annotations %v, want helm.sh/resource-policy: keep by default", ann)
		}
		delete(ann, "helm.sh/resource-policy")
		got.SetAnnotations(ann)
		got.SetLabels(nil)
		if diff := cmp.Diff(want.Object, got.Object); diff != "" {
			t.Errorf("the chart's CRD differs from config/crd (run 'make manifests') (-config +chart):\n%s", diff)
		}
	})

	rules := func(u *unstructured.Unstructured) []rbacv1.PolicyRule {
		if u.GetKind() == "Role" {
			return convert[rbacv1.Role](t, u).Rules
		}
		return convert[rbacv1.ClusterRole](t, u).Rules
	}
	cases := map[string]struct {
		config               []string
		chartKind, chartName string
		wantLabels           map[string]string // on both
	}{
		"manager ClusterRole": {
			config: []string{"config", "rbac", "role.yaml"}, chartKind: "ClusterRole", chartName: "tokenhook-manager",
		},
		"leader election Role": {
			config: []string{"config", "rbac", "leader_election_role.yaml"}, chartKind: "Role", chartName: "tokenhook-leader-election",
		},
		"editor ClusterRole": {
			config: []string{"config", "rbac", "tokenhook_editor_role.yaml"}, chartKind: "ClusterRole", chartName: "tokenhook-editor",
			wantLabels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-admin": "true", "rbac.authorization.k8s.io/aggregate-to-edit": "true"},
		},
		"viewer ClusterRole": {
			config: []string{"config", "rbac", "tokenhook_viewer_role.yaml"}, chartKind: "ClusterRole", chartName: "tokenhook-viewer",
			wantLabels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want := readObjects(t, c.config...)[0]
			got := find(t, objs, c.chartKind, c.chartName)
			if diff := cmp.Diff(rules(want), rules(got)); diff != "" {
				t.Errorf("rules differ (-config +chart):\n%s", diff)
			}
			for k, v := range c.wantLabels {
				if want.GetLabels()[k] != v || got.GetLabels()[k] != v {
					t.Errorf("label %s=%s: config has %q, chart has %q", k, v, want.GetLabels()[k], got.GetLabels()[k])
				}
			}
		})
	}
}

// container returns the manager container of a rendered Deployment.
func container(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	deploys := ofKind(objs, "Deployment")
	if len(deploys) != 1 {
		t.Fatalf("rendered %s, want one Deployment", describe(objs))
	}
	d := convert[appsv1.Deployment](t, deploys[0])
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return d, c
		}
	}
	t.Fatalf("Deployment %s has no manager container", d.Name)
	return nil, corev1.Container{}
}

// hookServerImage is the manager's TOKENHOOK_IMAGE: the hook servers' image.
func hookServerImage(c corev1.Container) string {
	for _, e := range c.Env {
		if e.Name == "TOKENHOOK_IMAGE" {
			return e.Value
		}
	}
	return ""
}

func TestChartRendering(t *testing.T) {
	t.Parallel()
	version := appVersion(t)
	defaultImage := "ghcr.io/tokenhook/tokenhook:" + version
	digest := "sha256:" + strings.Repeat("ab", 32)

	cases := map[string]struct {
		release string
		args    []string
		check   func(t *testing.T, objs []*unstructured.Unstructured)
	}{
		"defaults": {check: func(t *testing.T, objs []*unstructured.Unstructured) {
			d, c := container(t, objs)
			if c.Image != defaultImage || hookServerImage(c) != defaultImage {
				t.Errorf("image %q, TOKENHOOK_IMAGE %q, want both %q", c.Image, hookServerImage(c), defaultImage)
			}
			if *d.Spec.Replicas != 1 {
				t.Errorf("replicas = %d, want 1", *d.Spec.Replicas)
			}
			for _, arg := range []string{"--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081"} {
				if !slices.Contains(c.Args, arg) {
					t.Errorf("args %q lack %s", c.Args, arg)
				}
			}
			if !slices.Equal(c.Command, []string{"/manager"}) {
				t.Errorf("command = %q, want [/manager]", c.Command)
			}
			if c.LivenessProbe == nil || c.ReadinessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
				t.Errorf("probes: liveness %+v, readiness %+v", c.LivenessProbe, c.ReadinessProbe)
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources = %+v, want memory requests and limits", c.Resources)
			}
			find(t, objs, "Role", "tokenhook-leader-election")
			find(t, objs, "ServiceAccount", "tokenhook")
			if d.Spec.Template.Spec.ServiceAccountName != "tokenhook" {
				t.Errorf("serviceAccountName = %q", d.Spec.Template.Spec.ServiceAccountName)
			}
			svc := convert[corev1.Service](t, find(t, objs, "Service", "tokenhook-metrics"))
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("metrics Service selector %v does not select the pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
			}
			if svc.Spec.Ports[0].TargetPort.StrVal != "metrics" || !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "metrics" && p.ContainerPort == 8080 }) {
				t.Errorf("metrics Service ports %+v, container ports %+v", svc.Spec.Ports, c.Ports)
			}
			if len(ofKind(objs, "ServiceMonitor")) != 0 {
				t.Error("a ServiceMonitor by default")
			}
			if len(ofKind(objs, "PodMonitor")) != 0 {
				t.Error("a PodMonitor by default")
			}
			for _, o := range objs {
				if o.GetKind() != "CustomResourceDefinition" && !strings.HasPrefix(o.GetKind(), "Cluster") && o.GetNamespace() != "tokenhook-system" {
					t.Errorf("%s %s is in namespace %q, want the release's", o.GetKind(), o.GetName(), o.GetNamespace())
				}
			}
		}},
		"watch namespaces": {args: []string{"--set", "watchNamespaces={team-a,team-b}"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			_, c := container(t, objs)
			if !slices.Contains(c.Args, "--watch-namespaces=team-a,team-b") {
				t.Errorf("args %q lack --watch-namespaces=team-a,team-b", c.Args)
			}
			want := convert[rbacv1.ClusterRole](t, readObjects(t, "config", "rbac", "role.yaml")[0]).Rules
			for _, ns := range []string{"team-a", "team-b"} {
				var role *rbacv1.Role
				for _, o := range ofKind(objs, "Role") {
					if o.GetName() == "tokenhook-manager" && o.GetNamespace() == ns {
						role = convert[rbacv1.Role](t, o)
					}
				}
				if role == nil {
					t.Fatalf("no Role tokenhook-manager in %s: %s", ns, describe(objs))
				}
				if diff := cmp.Diff(want, role.Rules); diff != "" {
					t.Errorf("Role in %s: rules differ from config/rbac (-config +chart):\n%s", ns, diff)
				}
				var bound bool
				for _, o := range ofKind(objs, "RoleBinding") {
					rb := convert[rbacv1.RoleBinding](t, o)
					bound = bound || rb.Namespace == ns && rb.RoleRef.Kind == "Role" && rb.RoleRef.Name == "tokenhook-manager" &&
						len(rb.Subjects) == 1 && rb.Subjects[0].Name == "tokenhook" && rb.Subjects[0].Namespace == "tokenhook-system"
				}
				if !bound {
					t.Errorf("no RoleBinding of tokenhook-manager to the operator's ServiceAccount in %s", ns)
				}
			}
			// Nothing cluster-wide for the manager (the aggregated user roles
			// are the rbac.aggregateToDefaultRoles option's).
			for _, o := range objs {
				if (o.GetKind() == "ClusterRole" || o.GetKind() == "ClusterRoleBinding") && o.GetName() == "tokenhook-manager" {
					t.Errorf("%s %s rendered with watchNamespaces", o.GetKind(), o.GetName())
				}
			}
			if n := len(ofKind(objs, "ClusterRoleBinding")); n != 0 {
				t.Errorf("%d ClusterRoleBindings with watchNamespaces", n)
			}
		}},
		"image tag": {args: []string{"--set", "image.tag=v9.8.7", "--set", "image.repository=registry.example.com/th"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			_, c := container(t, objs)
			if want := "registry.example.com/th:v9.8.7"; c.Image != want || hookServerImage(c) != want {
				t.Errorf("image %q, TOKENHOOK_IMAGE %q, want both %q", c.Image, hookServerImage(c), want)
			}
		}},
		"image digest": {args: []string{"--set", "image.digest=" + digest}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			_, c := container(t, objs)
			if want := "ghcr.io/tokenhook/tokenhook@" + digest; c.Image != want || hookServerImage(c) != want {
				t.Errorf("image %q, TOKENHOOK_IMAGE %q, want both %q", c.Image, hookServerImage(c), want)
			}
		}},
		"hook server image": {args: []string{"--set", "hookServer.image=example.com/hooks:1"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			_, c := container(t, objs)
			if c.Image != defaultImage || hookServerImage(c) != "example.com/hooks:1" {
				t.Errorf("image %q, TOKENHOOK_IMAGE %q", c.Image, hookServerImage(c))
			}
		}},
		"CRDs off": {args: []string{"--set", "crds.enabled=false"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			if n := len(ofKind(objs, "CustomResourceDefinition")); n != 0 {
				t.Errorf("%d CRDs with crds.enabled=false", n)
			}
		}},
		"CRDs not kept": {args: []string{"--set", "crds.keep=false"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			crd := find(t, objs, "CustomResourceDefinition", "tokenhooks.tokenhook.io")
			if _, ok := crd.GetAnnotations()["helm.sh/resource-policy"]; ok {
				t.Errorf("CRD annotations %v with crds.keep=false", crd.GetAnnotations())
			}
		}},
		"leader election off": {args: []string{"--set", "leaderElection.enabled=false"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			_, c := container(t, objs)
			if !slices.Contains(c.Args, "--leader-elect=false") || len(ofKind(objs, "Role")) != 0 {
				t.Errorf("args %q, Roles %d", c.Args, len(ofKind(objs, "Role")))
			}
		}},
		"metrics off": {args: []string{"--set", "metrics.enabled=false"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			_, c := container(t, objs)
			if !slices.Contains(c.Args, "--metrics-bind-address=0") || len(ofKind(objs, "Service")) != 0 || len(c.Ports) != 1 {
				t.Errorf("args %q, ports %+v, Services %d", c.Args, c.Ports, len(ofKind(objs, "Service")))
			}
		}},
		"ServiceMonitor": {args: []string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prom"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			sm := find(t, objs, "ServiceMonitor", "tokenhook")
			svc := convert[corev1.Service](t, find(t, objs, "Service", "tokenhook-metrics"))
			sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			if !labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
				t.Errorf("ServiceMonitor selector %v does not select the Service %v", sel, svc.Labels)
			}
			endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != svc.Spec.Ports[0].Name {
				t.Errorf("ServiceMonitor endpoints %v, Service ports %+v", endpoints, svc.Spec.Ports)
			}
			if sm.GetLabels()["release"] != "prom" {
				t.Errorf("ServiceMonitor labels %v lack release=prom", sm.GetLabels())
			}
		}},
		"hook server PodMonitor": {args: []string{"--set", "hookServer.podMonitor.enabled=true", "--set", "hookServer.podMonitor.labels.release=prom"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			pm := checkPodMonitor(t, objs)
			if pm.GetNamespace() != "tokenhook-system" || pm.GetLabels()["release"] != "prom" {
				t.Errorf("PodMonitor in namespace %q with labels %v, want the release's namespace and release=prom", pm.GetNamespace(), pm.GetLabels())
			}
			nsSel, _, _ := unstructured.NestedMap(pm.Object, "spec", "namespaceSelector")
			if diff := cmp.Diff(map[string]any{"any": true}, nsSel); diff != "" {
				t.Errorf("PodMonitor namespaceSelector without watchNamespaces (-want +got):\n%s", diff)
			}
			endpoint := podMetricsEndpoint(t, pm)
			if endpoint["interval"] != "30s" || endpoint["scrapeTimeout"] != "10s" || endpoint["relabelings"] != nil || endpoint["metricRelabelings"] != nil {
				t.Errorf("PodMonitor endpoint %v, want the default interval and timeout and no relabelings", endpoint)
			}
			// It scrapes the hook servers, not the operator.
			d, _ := container(t, objs)
			sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
			if labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("PodMonitor selector %v selects the operator's pods %v", sel, d.Spec.Template.Labels)
			}
		}},
		"hook server PodMonitor, namespace-scoped": {args: []string{
			"--set", "hookServer.podMonitor.enabled=true", "--set", "watchNamespaces={team-a,team-b}", "--set", "hookServer.podMonitor.namespace=monitoring",
			"--set-json", `hookServer.podMonitor.relabelings=[{"action":"replace","targetLabel":"cluster","replacement":"prod"}]`,
		}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			pm := checkPodMonitor(t, objs)
			if pm.GetNamespace() != "monitoring" {
				t.Errorf("PodMonitor in namespace %q, want monitoring", pm.GetNamespace())
			}
			nsSel, _, _ := unstructured.NestedMap(pm.Object, "spec", "namespaceSelector")
			if diff := cmp.Diff(map[string]any{"matchNames": []any{"team-a", "team-b"}}, nsSel); diff != "" {
				t.Errorf("PodMonitor namespaceSelector with watchNamespaces (-want +got):\n%s", diff)
			}
			want := []any{map[string]any{"action": "replace", "targetLabel": "cluster", "replacement": "prod"}}
			if diff := cmp.Diff(want, podMetricsEndpoint(t, pm)["relabelings"]); diff != "" {
				t.Errorf("PodMonitor relabelings (-want +got):\n%s", diff)
			}
		}},
		"Okta CA bundle": {args: []string{"--set", "manager.oktaCABundle.configMapName=proxy-ca"}, check: func(t *testing.T, objs []*unstructured.Unstructured) {
			d, c := container(t, objs)
			if !slices.Contains(c.Args, "--okta-ca-file=/etc/tokenhook/okta-ca/ca.crt") || len(c.VolumeMounts) != 1 ||
				len(d.Spec.Template.Spec.Volumes) != 1 || d.Spec.Template.Spec.Volumes[0].ConfigMap.Name != "proxy-ca" {
				t.Errorf("args %q, mounts %+v, volumes %+v", c.Args, c.VolumeMounts, d.Spec.Template.Spec.Volumes)
			}
		}},
		"release name": {release: "identity", check: func(t *testing.T, objs []*unstructured.Unstructured) {
			d, _ := container(t, objs)
			if d.Name != "identity-tokenhook" {
				t.Errorf("Deployment name %q, want identity-tokenhook", d.Name)
			}
			crb := convert[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", "identity-tokenhook-manager"))
			find(t, objs, "ClusterRole", crb.RoleRef.Name)
			find(t, objs, "ServiceAccount", crb.Subjects[0].Name)
			if crb.Subjects[0].Namespace != "tokenhook-system" || crb.Subjects[0].Name != d.Spec.Template.Spec.ServiceAccountName {
				t.Errorf("ClusterRoleBinding subjects %+v, pods run as %q", crb.Subjects, d.Spec.Template.Spec.ServiceAccountName)
			}
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			release := c.release
			if release == "" {
				release = "tokenhook"
			}
			c.check(t, render(t, release, c.args...))
		})
	}
}

// hookServerPodLabels are the labels the operator gives a hook server pod of
// TokenHook "portal" (objectLabels in controllers/hookserver_objects.go).
// test/monitoring checks the PodMonitor against the manager's own Deployment.
var hookServerPodLabels = labels.Set{
	"app.kubernetes.io/name":       "tokenhook-hookserver",
	"app.kubernetes.io/instance":   "portal",
	"app.kubernetes.io/component":  "hookserver",
	"app.kubernetes.io/managed-by": "tokenhook-operator",
}

// checkPodMonitor returns the chart's one PodMonitor, having checked that it
// selects the hook server pods and scrapes their plain HTTP metrics port.
func checkPodMonitor(t *testing.T, objs []*unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	pm := find(t, objs, "PodMonitor", "tokenhook-hookserver")
	if n := len(ofKind(objs, "PodMonitor")); n != 1 {
		t.Errorf("rendered %d PodMonitors, want 1", n)
	}
	sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(hookServerPodLabels) {
		t.Errorf("PodMonitor selector %v does not select a hook server pod %v", sel, hookServerPodLabels)
	}
	endpoint := podMetricsEndpoint(t, pm)
	if endpoint["port"] != "metrics" || endpoint["path"] != "/metrics" || endpoint["scheme"] != "http" {
		t.Errorf("PodMonitor endpoint %v, want port metrics, path /metrics, scheme http", endpoint)
	}
	return pm
}

// podMetricsEndpoint is a PodMonitor's one endpoint.
func podMetricsEndpoint(t *testing.T, pm *unstructured.Unstructured) map[string]any {
	t.Helper()
	endpoints, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(endpoints) != 1 {
		t.Fatalf("PodMonitor endpoints %v, want one", endpoints)
	}
	return endpoints[0].(map[string]any)
}

// TestHelmInstall installs the chart into a real API server with the helm CLI,
// then upgrades and uninstalls it.
func TestHelmInstall(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	ctx := context.Background()
	const ns = "tokenhook-system"

	manifest := func(t *testing.T, release, namespace string) []*unstructured.Unstructured {
		t.Helper()
		out, err := c.helm(t, "get", "manifest", release, "--namespace", namespace)
		if err != nil {
			t.Fatal(err)
		}
		return decodeObjects(t, []byte(out))
	}

	var installed []*unstructured.Unstructured
	var notes string
	t.Run("install", func(t *testing.T) {
		out, err := c.helm(t, "install", "tokenhook", chartDir, "--namespace", ns, "--create-namespace")
		if err != nil {
			t.Fatal(err)
		}
		notes = out
		for _, want := range []string{"create secret generic okta-credentials", "create configmap patients", "rollout status deployment/tokenhook"} {
			if !strings.Contains(notes, want) {
				t.Errorf("the install notes lack %q:\n%s", want, notes)
			}
		}
		installed = manifest(t, "tokenhook", ns)
		for _, kind := range []string{"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount", "Service", "Deployment"} {
			if len(ofKind(installed, kind)) == 0 {
				t.Errorf("the release has no %s: %s", kind, describe(installed))
			}
		}
		c.assertLive(t, installed)
		c.waitEstablished(t, "tokenhooks.tokenhook.io")
	})
	if t.Failed() {
		return
	}

	t.Run("the notes' TokenHook is valid", func(t *testing.T) {
		example := notesExample(t, notes)
		example = strings.NewReplacer("<your-org>", "dev-000000", "<your hook host>", "hooks.example.com").Replace(example)
		if _, err := c.kubectl(t, []byte(example), "apply", "--server-side", "--dry-run=server", "--namespace", "default", "-f", "-"); err != nil {
			t.Errorf("the TokenHook in the install notes, with its placeholders filled in, is refused: %v\n%s", err, example)
		}
	})
	t.Run("pods meet the restricted Pod Security Standard", func(t *testing.T) {
		c.assertRestricted(t, find(t, installed, "Deployment", "tokenhook"))
	})
	t.Run("operator RBAC", func(t *testing.T) {
		c.assertOperatorRBAC(t, ns, "tokenhook")
	})

	t.Run("upgrade", func(t *testing.T) {
		if _, err := c.helm(t, "upgrade", "tokenhook", chartDir, "--namespace", ns, "--set", "replicas=2", "--set", "image.tag=v0.0.2"); err != nil {
			t.Fatal(err)
		}
		upgraded := manifest(t, "tokenhook", ns)
		c.assertLive(t, upgraded)
		d := &appsv1.Deployment{}
		if err := c.k8s.Get(ctx, keyOf(ns, "tokenhook"), d); err != nil {
			t.Fatal(err)
		}
		img := d.Spec.Template.Spec.Containers[0].Image
		if *d.Spec.Replicas != 2 || !strings.HasSuffix(img, ":v0.0.2") || hookServerImage(d.Spec.Template.Spec.Containers[0]) != img {
			t.Errorf("after upgrade: replicas %d, image %q, TOKENHOOK_IMAGE %q", *d.Spec.Replicas, img, hookServerImage(d.Spec.Template.Spec.Containers[0]))
		}
	})

	// The chart's other shapes install beside it: no CRD (it exists), and
	// every setting changed. Stand-in ServiceMonitor and PodMonitor CRDs take
	// the place of the Prometheus Operator's, and full-values puts the
	// PodMonitor in namespace monitoring.
	for _, crd := range []string{"servicemonitor-crd.yaml", "podmonitor-crd.yaml"} {
		if _, err := c.kubectl(t, nil, "apply", "--server-side", "-f", repoPath("test", "packaging", "testdata", crd)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.kubectl(t, nil, "create", "namespace", "monitoring"); err != nil {
		t.Fatal(err)
	}
	c.waitEstablished(t, "servicemonitors.monitoring.coreos.com")
	c.waitEstablished(t, "podmonitors.monitoring.coreos.com")
	for _, values := range []string{"minimal-values.yaml", "full-values.yaml"} {
		t.Run(values, func(t *testing.T) {
			release := strings.TrimSuffix(values, "-values.yaml")
			namespace := "tokenhook-" + release
			if _, err := c.helm(t, "install", release, chartDir, "--namespace", namespace, "--create-namespace",
				"--values", repoPath(chartDir, "ci", values), "--set", "crds.enabled=false"); err != nil {
				t.Fatal(err)
			}
			c.assertLive(t, manifest(t, release, namespace))
		})
	}

	t.Run("uninstall keeps the CRD", func(t *testing.T) {
		if _, err := c.helm(t, "uninstall", "tokenhook", "--namespace", ns); err != nil {
			t.Fatal(err)
		}
		for _, o := range installed {
			_, err := c.get(ctx, o)
			if o.GetKind() == "CustomResourceDefinition" {
				if err != nil {
					t.Errorf("CRD %s after uninstall: %v, want it kept", o.GetName(), err)
				}
				continue
			}
			if !apierrors.IsNotFound(err) {
				t.Errorf("%s %s after uninstall: %v, want NotFound", o.GetKind(), o.GetName(), err)
			}
		}
	})
}

// notesExample is the YAML between "<<'YAML'" and "YAML" in the install
// notes, without its indentation.
func notesExample(t *testing.T, notes string) string {
	t.Helper()
	_, rest, ok := strings.Cut(notes, "<<'YAML'\n")
	if !ok {
		t.Fatalf("the install notes have no TokenHook example:\n%s", notes)
	}
	var lines []string
	indent := -1
	for _, line := range strings.Split(rest, "\n") {
		if strings.TrimSpace(line) == "YAML" {
			break
		}
		if n := len(line) - len(strings.TrimLeft(line, " ")); strings.TrimSpace(line) != "" && (indent < 0 || n < indent) {
			indent = n
		}
		lines = append(lines, line)
	}
	for i, line := range lines {
		if len(line) >= indent {
			lines[i] = line[indent:]
		}
	}
	return strings.Join(lines, "\n")
}

// TestValuesSchemaMatchesValues checks that values.schema.json and values.yaml
// describe the same settings: helm lint already fails on a value the schema
// lacks (the schema allows no unknown keys), and this fails on a setting the
// schema has but values.yaml does not show its users.
func TestValuesSchemaMatchesValues(t *testing.T) {
	t.Parallel()
	schemaJSON, err := os.ReadFile(repoPath(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(schemaJSON, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	values := readObjects(t, chartDir, "values.yaml")[0].Object
	// Settings that only a parent chart or a rare need sets.
	notInValues := map[string]bool{"global": true, "resources.claims": true}
	var walk func(s, v map[string]any, path string)
	walk = func(s, v map[string]any, path string) {
		props, _ := s["properties"].(map[string]any)
		if s["additionalProperties"] != false {
			return // free-form, e.g. affinity
		}
		for key, sub := range props {
			p := strings.TrimPrefix(path+"."+key, ".")
			if notInValues[p] {
				continue
			}
			val, ok := v[key]
			if !ok {
				t.Errorf("values.schema.json has %s, which values.yaml does not show", p)
				continue
			}
			subSchema, _ := sub.(map[string]any)
			if vm, ok := val.(map[string]any); ok && subSchema != nil {
				walk(subSchema, vm, p)
			}
		}
	}
	walk(schema, values, "")
}

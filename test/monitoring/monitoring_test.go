// Package monitoring tests the chart's Grafana dashboard and PrometheusRule:
// the rules parse with Prometheus' own rule parser and carry what an alert
// needs, and every metric and label that a rule or a dashboard query reads
// is one the hook server and the manager really export. The hook server
// runs in this process on loopback; the manager runs against envtest's
// control plane, with a fake Okta.
//
// helm comes from $HELM (set by 'make test-envtest'), else bin/helm; the
// control plane from KUBEBUILDER_ASSETS, else bin/k8s. When missing, the
// tests skip, or fail under CI.
package monitoring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

const chartDir = "charts/tokenhook"

// monitoringValues turns the dashboard and the PrometheusRule on, with every
// monitoring setting changed from its default.
var monitoringValues = filepath.Join(chartDir, "ci", "monitoring-values.yaml")

// helmHome keeps helm away from the user's repositories and caches.
var helmHome string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tokenhook-monitoring-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	helmHome = dir
	code := m.Run()
	stopManager()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// helm runs the helm CLI in the repository and returns its stdout; the error
// carries stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		bin = filepath.Join(testenv.RepoRoot(), "bin", "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.Unavailable(t, fmt.Errorf("no helm: set HELM or run 'make helm': %w", err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// render runs 'helm template' in namespace tokenhook-system.
func render(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", "tokenhook", chartDir, "--namespace", "tokenhook-system"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decode manifests: %v", err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
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

// only returns the one object of a kind.
func only(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := ofKind(objs, kind)
	if len(found) != 1 {
		t.Fatalf("rendered %d objects of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

func TestMonitoringOffByDefault(t *testing.T) {
	t.Parallel()
	objs := render(t)
	if n := len(ofKind(objs, "PrometheusRule")); n != 0 {
		t.Errorf("default values render %d PrometheusRules, want none", n)
	}
	for _, cm := range ofKind(objs, "ConfigMap") {
		if _, ok := cm.GetLabels()["grafana_dashboard"]; ok {
			t.Errorf("default values render the dashboard ConfigMap %s", cm.GetName())
		}
	}
}

// TestMonitoringValuesRejected checks the settings a rule cannot work with.
func TestMonitoringValuesRejected(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		set  []string
		json bool
		want string
	}{
		"latency threshold at Okta's 3 s": {
			set:  []string{"prometheusRule.hookServer.latencyCriticalSeconds=3"},
			want: "at '/prometheusRule/hookServer/latencyCriticalSeconds': exclusiveMaximum",
		},
		"warning not below critical": {
			// --set makes 1.5 a string; --set-json keeps it a number.
			set:  []string{"prometheusRule.hookServer.latencyWarningSeconds=2", "prometheusRule.hookServer.latencyCriticalSeconds=1.5"},
			json: true,
			want: "latencyWarningSeconds must be below latencyCriticalSeconds",
		},
		"severity among the alert labels": {
			set:  []string{"prometheusRule.alertLabels.severity=page"},
			want: "at '/prometheusRule/alertLabels'",
		},
		"ratio above 1": {
			set:  []string{"prometheusRule.manager.oktaTransientRatio=2"},
			want: "at '/prometheusRule/manager/oktaTransientRatio': maximum",
		},
		"not a duration": {
			set:  []string{"prometheusRule.manager.notReadyFor=soon"},
			want: "at '/prometheusRule/manager/notReadyFor'",
		},
		"unknown setting": {
			set:  []string{"grafana.dashboard.folder=Identity"},
			want: "additional properties 'folder' not allowed",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := []string{"template", "tokenhook", chartDir, "--set", "prometheusRule.enabled=true"}
			flag := "--set"
			if tc.json {
				flag = "--set-json"
			}
			for _, s := range tc.set {
				args = append(args, flag, s)
			}
			out, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template accepted %v", tc.set)
			}
			if msg := out + err.Error(); !strings.Contains(msg, tc.want) {
				t.Errorf("the error does not contain %q:\n%s", tc.want, msg)
			}
		})
	}
}

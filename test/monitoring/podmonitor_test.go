package monitoring

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenhook/tokenhook/hookserver"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// podMonitorSpec is the part of a Prometheus Operator PodMonitor's spec the
// chart sets.
type podMonitorSpec struct {
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector struct {
		Any        bool     `json:"any"`
		MatchNames []string `json:"matchNames"`
	} `json:"namespaceSelector"`
	PodMetricsEndpoints []struct {
		Port   string `json:"port"`
		Path   string `json:"path"`
		Scheme string `json:"scheme"`
	} `json:"podMetricsEndpoints"`
}

// TestPodMonitorScrapesHookServerPods checks the chart's PodMonitor against
// the hook server Deployment the manager runs for a TokenHook: it selects
// the Deployment's pods in the TokenHook's namespace, and scrapes the
// container port the hook server serves its metrics on, at the path it
// serves them, over plain HTTP. (The namespace-scoped selector is
// test/packaging's.)
func TestPodMonitorScrapesHookServerPods(t *testing.T) {
	t.Parallel()
	pm := only(t, render(t, "--values", monitoringValues), "PodMonitor")
	if got := pm.GetLabels()["release"]; got != "prometheus" {
		t.Errorf("label release=%q, want prometheus (hookServer.podMonitor.labels)", got)
	}
	raw, err := json.Marshal(pm.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	var spec podMonitorSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatalf("PodMonitor spec: %v", err)
	}
	if len(spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("PodMonitor endpoints %+v, want one", spec.PodMetricsEndpoints)
	}
	endpoint := spec.PodMetricsEndpoints[0]

	k8s := startManager(t)
	th := newTokenHook(t, k8s, false)
	d := &appsv1.Deployment{}
	testenv.Eventually(t, 30*time.Second, func() error {
		return k8s.Get(context.Background(), client.ObjectKey{Namespace: th.Namespace, Name: th.Name + "-hookserver"}, d)
	})

	sel, err := metav1.LabelSelectorAsSelector(&spec.Selector)
	if err != nil || sel.Empty() {
		t.Fatalf("PodMonitor selector %+v: %v", spec.Selector, err)
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("PodMonitor selector %s does not select the hook server pods %v", sel, d.Spec.Template.Labels)
	}
	if !spec.NamespaceSelector.Any && !slices.Contains(spec.NamespaceSelector.MatchNames, th.Namespace) {
		t.Errorf("PodMonitor namespaceSelector %+v leaves out the TokenHook's namespace %s", spec.NamespaceSelector, th.Namespace)
	}

	var scraped []corev1.Container
	var port int32
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == endpoint.Port {
				scraped, port = append(scraped, c), p.ContainerPort
			}
		}
	}
	if len(scraped) != 1 {
		t.Fatalf("%d hook server containers have a port named %q (the PodMonitor's), want 1: %+v", len(scraped), endpoint.Port, d.Spec.Template.Spec.Containers)
	}
	if got := metricsListenPort(scraped[0].Args); got != strconv.Itoa(int(port)) {
		t.Errorf("the PodMonitor scrapes port %s=%d; the hook server serves its metrics on port %q (args %q)", endpoint.Port, port, got, scraped[0].Args)
	}
	if endpoint.Path != hookserver.MetricsPath || endpoint.Scheme != "http" {
		t.Errorf("PodMonitor endpoint path %q, scheme %q; the hook server serves its metrics at %s over plain HTTP", endpoint.Path, endpoint.Scheme, hookserver.MetricsPath)
	}
}

// metricsListenPort is the port of the hook server's --metrics-listen flag.
func metricsListenPort(args []string) string {
	for _, a := range args {
		if addr, ok := strings.CutPrefix(a, "--metrics-listen="); ok {
			_, port, _ := net.SplitHostPort(addr)
			return port
		}
	}
	return ""
}

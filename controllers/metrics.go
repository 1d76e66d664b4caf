package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// readyDesc is one series per TokenHook. Its labels are not "namespace" and
// "name": Prometheus' own target labels (the manager pod's) take those.
var readyDesc = prometheus.NewDesc("tokenhook_tokenhook_ready",
	"1 when the TokenHook's Ready condition is True, else 0; reason is the condition's reason "+
		"(Ready, NotReady, Suspended, KubernetesAPIError). Exported by the leader, for the TokenHooks it reconciled.",
	[]string{"tokenhook_namespace", "tokenhook_name", "reason"}, nil)

// tokenHookReadiness is the manager's record of each TokenHook's Ready
// condition as its last reconcile left it, in controller-runtime's registry.
var tokenHookReadiness = func() *readiness {
	r := &readiness{byKey: map[types.NamespacedName]readyState{}}
	metrics.Registry.MustRegister(r)
	return r
}()

type readyState struct {
	ready  bool
	reason string
}

// readiness is a collector rather than a GaugeVec: a TokenHook whose reason
// changes swaps its one series at once, never showing two or none.
type readiness struct {
	mu    sync.Mutex
	byKey map[types.NamespacedName]readyState
}

// record keeps the Ready condition th carries now.
func (r *readiness) record(th *v1.TokenHook) {
	state := readyState{reason: "Unknown"}
	if c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionReady); c != nil {
		state = readyState{ready: c.Status == metav1.ConditionTrue, reason: c.Reason}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[client.ObjectKeyFromObject(th)] = state
}

// forget drops a TokenHook that is gone.
func (r *readiness) forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byKey, key)
}

func (r *readiness) Describe(ch chan<- *prometheus.Desc) { ch <- readyDesc }

func (r *readiness) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, s := range r.byKey {
		value := 0.0
		if s.ready {
			value = 1
		}
		ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, value, key.Namespace, key.Name, s.reason)
	}
}

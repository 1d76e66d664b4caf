package controllers

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

func TestReadinessSeries(t *testing.T) {
	withReady := func(status metav1.ConditionStatus, reason string) *v1.TokenHook {
		th := sampleTokenHook()
		setCondition(th, v1.ConditionReady, status, reason, "m")
		return th
	}
	// A series as "namespace/name reason" and its value.
	cases := map[string]struct {
		record []*v1.TokenHook
		forget bool
		want   map[string]float64
	}{
		"ready": {
			record: []*v1.TokenHook{withReady(metav1.ConditionTrue, v1.ReasonReady)},
			want:   map[string]float64{"health/clinic Ready": 1},
		},
		"not ready": {
			record: []*v1.TokenHook{withReady(metav1.ConditionFalse, v1.ReasonNotReady)},
			want:   map[string]float64{"health/clinic NotReady": 0},
		},
		"no Ready condition yet": {
			record: []*v1.TokenHook{sampleTokenHook()},
			want:   map[string]float64{"health/clinic Unknown": 0},
		},
		"a new reason replaces the old series": {
			record: []*v1.TokenHook{withReady(metav1.ConditionFalse, v1.ReasonSuspended), withReady(metav1.ConditionTrue, v1.ReasonReady)},
			want:   map[string]float64{"health/clinic Ready": 1},
		},
		"forgotten": {
			record: []*v1.TokenHook{withReady(metav1.ConditionTrue, v1.ReasonReady)},
			forget: true,
			want:   map[string]float64{},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := &readiness{byKey: map[types.NamespacedName]readyState{}}
			for _, th := range tc.record {
				r.record(th)
			}
			if tc.forget {
				r.forget(types.NamespacedName{Namespace: "health", Name: "clinic"})
			}
			reg := prometheus.NewPedanticRegistry() // also checks Collect against Describe
			reg.MustRegister(r)
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, f := range families {
				for _, m := range f.GetMetric() {
					l := map[string]string{}
					for _, p := range m.GetLabel() {
						l[p.GetName()] = p.GetValue()
					}
					got[l["tokenhook_namespace"]+"/"+l["tokenhook_name"]+" "+l["reason"]] = m.GetGauge().GetValue()
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
		})
	}
}

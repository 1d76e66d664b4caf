package controllers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

func TestAppliedMemoUnchanged(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	want := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{
		"labels": map[string]any{"app": "hook"}, "annotations": map[string]any{"a": "1"}}}}
	sum, err := applySum(want.Object)
	if err != nil {
		t.Fatal(err)
	}
	otherSum, _ := applySum(map[string]any{"spec": "changed"})
	deployment := appliedKey{gvk: appsv1.SchemeGroupVersion.WithKind("Deployment"), NamespacedName: types.NamespacedName{Namespace: "ns", Name: "hook"}}
	service := appliedKey{gvk: corev1.SchemeGroupVersion.WithKind("Service"), NamespacedName: deployment.NamespacedName}
	applied := metav1.ObjectMeta{UID: "u1", ResourceVersion: "10", Generation: 3}
	ours := func(m metav1.ObjectMeta) *metav1.ObjectMeta {
		m.Labels, m.Annotations = map[string]string{"app": "hook", "extra": "x"}, map[string]string{"a": "1"}
		return &m
	}

	tests := map[string]struct {
		key    appliedKey
		sum    [32]byte
		cached *metav1.ObjectMeta
		at     time.Time
		want   bool
	}{
		"as applied":                          {key: service, sum: sum, cached: ours(applied), at: now, want: true},
		"another configuration":               {key: service, sum: otherSum, cached: ours(applied), at: now},
		"recreated":                           {key: service, sum: sum, cached: ours(metav1.ObjectMeta{UID: "u2", ResourceVersion: "10", Generation: 3}), at: now},
		"written since, not generation kind":  {key: service, sum: sum, cached: ours(metav1.ObjectMeta{UID: "u1", ResourceVersion: "11", Generation: 3}), at: now},
		"status written since (Deployment)":   {key: deployment, sum: sum, cached: ours(metav1.ObjectMeta{UID: "u1", ResourceVersion: "11", Generation: 3}), at: now, want: true},
		"spec written since (Deployment)":     {key: deployment, sum: sum, cached: ours(metav1.ObjectMeta{UID: "u1", ResourceVersion: "11", Generation: 4}), at: now},
		"our label removed (Deployment)":      {key: deployment, sum: sum, cached: &metav1.ObjectMeta{UID: "u1", ResourceVersion: "11", Generation: 3, Annotations: map[string]string{"a": "1"}}, at: now},
		"our annotation changed (Deployment)": {key: deployment, sum: sum, cached: &metav1.ObjectMeta{UID: "u1", ResourceVersion: "11", Generation: 3, Labels: map[string]string{"app": "hook"}, Annotations: map[string]string{"a": "2"}}, at: now},
		"applied a drift period ago":          {key: service, sum: sum, cached: ours(applied), at: now.Add(-time.Minute)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m appliedMemo
			m.record(tc.key, sum, &applied, tc.at)
			if got := m.unchanged(tc.key, tc.sum, want, tc.cached, now, time.Minute); got != tc.want {
				t.Errorf("unchanged = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("forgotten", func(t *testing.T) {
		var m appliedMemo
		m.record(service, sum, &applied, now)
		m.forget("ns", "other")
		if !m.unchanged(service, sum, want, ours(applied), now, time.Minute) {
			t.Fatal("forgetting another name dropped the entry")
		}
		m.forget("ns", "hook")
		if m.unchanged(service, sum, want, ours(applied), now, time.Minute) {
			t.Error("a forgotten entry still counts")
		}
	})
}

func TestReadMemo(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "creds"}
	var m readMemo[int]
	if _, ok := m.get(key, "1"); ok {
		t.Fatal("empty memo answered")
	}
	m.put(key, "1", 42)
	for _, tc := range []struct {
		rv   string
		want bool
	}{{"1", true}, {"2", false}, {"", false}} {
		if v, ok := m.get(key, tc.rv); ok != tc.want || (ok && v != 42) {
			t.Errorf("get at %q = %d, %v; want found %v", tc.rv, v, ok, tc.want)
		}
	}
	m.forget(key)
	if _, ok := m.get(key, "1"); ok {
		t.Error("a forgotten entry answered")
	}
}

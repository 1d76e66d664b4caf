package controllers

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestRolledOut(t *testing.T) {
	done := appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	cases := map[string]struct {
		edit func(*appsv1.DeploymentStatus)
		want bool
	}{
		"every replica updated and available": {func(*appsv1.DeploymentStatus) {}, true},
		"the spec not seen yet":               {func(s *appsv1.DeploymentStatus) { s.ObservedGeneration = 3 }, false},
		"an old replica left":                 {func(s *appsv1.DeploymentStatus) { s.Replicas = 3 }, false},
		"an updated replica not available":    {func(s *appsv1.DeploymentStatus) { s.AvailableReplicas = 1 }, false},
		"too few updated":                     {func(s *appsv1.DeploymentStatus) { s.UpdatedReplicas, s.Replicas = 1, 1 }, false},
		"an old pod still terminating":        {func(s *appsv1.DeploymentStatus) { s.TerminatingReplicas = ptr.To[int32](1) }, false},
		"terminating reported as none":        {func(s *appsv1.DeploymentStatus) { s.TerminatingReplicas = ptr.To[int32](0) }, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 4}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}}
			d.Status = done
			c.edit(&d.Status)
			if got := rolledOut(d); got != c.want {
				t.Errorf("rolledOut = %v, want %v", got, c.want)
			}
		})
	}
}

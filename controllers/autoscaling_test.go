package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

func TestAutoscalingObjects(t *testing.T) {
	cases := map[string]struct {
		autoscaling *v1.HookServerAutoscaling
		replicas    *int32
		wantReplica *int32 // the Deployment's spec.replicas
		wantPDB     bool
		wantMin     int32
		wantTarget  int32
	}{
		"fixed replicas":            {replicas: ptr.To[int32](3), wantReplica: ptr.To[int32](3), wantPDB: true},
		"one fixed replica":         {replicas: ptr.To[int32](1), wantReplica: ptr.To[int32](1)},
		"autoscaling":               {autoscaling: &v1.HookServerAutoscaling{MinReplicas: 3, MaxReplicas: 10, TargetCPUUtilizationPercentage: 50}, replicas: ptr.To[int32](7), wantPDB: true, wantMin: 3, wantTarget: 50},
		"autoscaling from one":      {autoscaling: &v1.HookServerAutoscaling{MinReplicas: 1, MaxReplicas: 4}, wantMin: 1, wantTarget: 70},
		"autoscaling, API defaults": {autoscaling: &v1.HookServerAutoscaling{MaxReplicas: 4}, wantPDB: true, wantMin: 2, wantTarget: 70},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			th := sampleTokenHook()
			th.Spec.HookServer.Replicas, th.Spec.HookServer.Autoscaling = tc.replicas, tc.autoscaling
			d := desiredDeployment(th, "x", podAuth{})
			if got, want := ptr.Deref(d.Spec.Replicas, -1), ptr.Deref(tc.wantReplica, -1); got != want {
				t.Errorf("Deployment replicas %d, want %d (-1: left to the autoscaler)", got, want)
			}
			if got := wantsPDB(th); got != tc.wantPDB {
				t.Errorf("wantsPDB = %v, want %v", got, tc.wantPDB)
			}
			if tc.autoscaling == nil {
				return
			}
			hpa := desiredHPA(th)
			ref := hpa.Spec.ScaleTargetRef
			metric := hpa.Spec.Metrics[0]
			checks := map[string]struct{ got, want any }{
				"target":      {ref.APIVersion + "/" + ref.Kind + "/" + ref.Name, "apps/v1/Deployment/clinic-hookserver"},
				"min":         {*hpa.Spec.MinReplicas, tc.wantMin},
				"max":         {hpa.Spec.MaxReplicas, tc.autoscaling.MaxReplicas},
				"metric":      {metric.Resource.Name, corev1.ResourceCPU},
				"utilization": {*metric.Resource.Target.AverageUtilization, tc.wantTarget},
				"owner":       {hpa.OwnerReferences[0].UID, th.UID},
			}
			for what, c := range checks {
				if c.got != c.want {
					t.Errorf("HPA %s = %v, want %v", what, c.got, c.want)
				}
			}
		})
	}
}

func TestAutoscalingTakesOverReplicasWithoutAReset(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	th := f.tokenHook("scaled")
	th.Spec.HookServer.Replicas = ptr.To[int32](3)
	f.create(th)
	f.waitReady("scaled")
	key := client.ObjectKey{Namespace: f.ns, Name: "scaled-hookserver"}

	// Sizes are read live, and each read is also a check that the
	// Deployment was never reset to 1 on the way.
	replicas := func() (int32, bool) {
		t.Helper()
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, d); err != nil {
			t.Fatal(err)
		}
		if n := ptr.Deref(d.Spec.Replicas, 1); n < 3 {
			t.Fatalf("the Deployment dropped to %d replicas", n)
		}
		return ptr.Deref(d.Spec.Replicas, 1), appliesReplicas(d)
	}
	hpaMax := func(want int32) {
		t.Helper()
		eventually(t, waitFor, func() error {
			hpa := &autoscalingv2.HorizontalPodAutoscaler{}
			if err := k8s.Get(ctx, key, hpa); err != nil {
				return err
			}
			if hpa.Spec.MaxReplicas != want {
				return fmt.Errorf("HPA maxReplicas %d, want %d", hpa.Spec.MaxReplicas, want)
			}
			return nil
		})
	}

	// Turning autoscaling on hands the current size over.
	f.update("scaled", func(th *v1.TokenHook) {
		th.Spec.HookServer.Autoscaling = &v1.HookServerAutoscaling{MinReplicas: 3, MaxReplicas: 6}
	})
	hpaMax(6)
	eventually(t, waitFor, func() error {
		if n, ours := replicas(); ours || n != 3 {
			return fmt.Errorf("replicas %d, still applied by the controller: %v", n, ours)
		}
		return nil
	})

	// The autoscaler scales out; the controller's next reconciles leave it.
	scale := &autoscalingv1.Scale{}
	if err := k8s.SubResource("scale").Get(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: key.Name}}, scale); err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 5
	if err := k8s.SubResource("scale").Update(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: key.Name}},
		client.WithSubResourceBody(scale), client.FieldOwner("horizontal-pod-autoscaler")); err != nil {
		t.Fatal(err)
	}
	f.update("scaled", func(th *v1.TokenHook) { th.Spec.HookServer.Autoscaling.MaxReplicas = 8 })
	hpaMax(8)
	f.waitReady("scaled")
	time.Sleep(time.Second) // a further reconcile, triggered by the Deployment's own events, would show here
	if n, ours := replicas(); n != 5 || ours {
		t.Errorf("after the autoscaler's scale-out: replicas %d (want 5), applied by the controller: %v", n, ours)
	}

	// Turning it off takes the size back and removes the autoscaler.
	f.update("scaled", func(th *v1.TokenHook) {
		th.Spec.HookServer.Autoscaling = nil
		th.Spec.HookServer.Replicas = ptr.To[int32](4)
	})
	eventually(t, waitFor, func() error {
		if n, ours := replicas(); n != 4 || !ours {
			return fmt.Errorf("replicas %d, applied by the controller: %v; want 4, true", n, ours)
		}
		if err := k8s.Get(ctx, key, &autoscalingv2.HorizontalPodAutoscaler{}); err == nil {
			return fmt.Errorf("the HPA is still there")
		}
		return nil
	})
}

func TestAutoscaledFromCreation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	th := f.tokenHook("born-scaled")
	th.Spec.HookServer.Autoscaling = &v1.HookServerAutoscaling{MinReplicas: 3, MaxReplicas: 5}
	f.create(th)
	f.waitReady("born-scaled")
	key := client.ObjectKey{Namespace: f.ns, Name: "born-scaled-hookserver"}
	eventually(t, waitFor, func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, d); err != nil {
			return err
		}
		if n := ptr.Deref(d.Spec.Replicas, 1); n != 3 {
			return fmt.Errorf("replicas %d, want minReplicas 3", n)
		}
		if appliesReplicas(d) {
			return fmt.Errorf("the controller still applies replicas")
		}
		return nil
	})
	if err := k8s.Get(ctx, key, &autoscalingv2.HorizontalPodAutoscaler{}); err != nil {
		t.Errorf("no HPA: %v", err)
	}
}

package testenv

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// AddDeploymentStandIn adds to mgr a controller that does what
// kube-controller-manager and kubelet would for a Deployment whose pods all
// start: it reports every replica of the current generation available.
// envtest runs no pods. Deployments for which skip returns true are left
// unavailable.
func AddDeploymentStandIn(mgr ctrl.Manager, skip func(*appsv1.Deployment) bool) error {
	c := mgr.GetClient()
	return ctrl.NewControllerManagedBy(mgr).For(&appsv1.Deployment{}).Named("deployment-stand-in").
		// kube-controller-manager's --concurrent-deployment-syncs default:
		// one worker made hundreds of new Deployments wait on each other.
		WithOptions(controller.Options{MaxConcurrentReconciles: 5}).
		Complete(reconcile.Func(func(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
			d := &appsv1.Deployment{}
			if err := c.Get(ctx, req.NamespacedName, d); err != nil {
				return ctrl.Result{}, client.IgnoreNotFound(err)
			}
			if d.Status.ObservedGeneration == d.Generation || (skip != nil && skip(d)) {
				return ctrl.Result{}, nil
			}
			n := ptr.Deref(d.Spec.Replicas, 1)
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
				Conditions: []appsv1.DeploymentCondition{{
					Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
					LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
				}},
			}
			return ctrl.Result{}, c.Status().Update(ctx, d)
		}))
}

// Eventually retries fn every 100ms until it returns nil, and fails the test
// with fn's last error when timeout passes.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

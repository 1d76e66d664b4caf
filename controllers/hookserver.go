package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// hookServerState is what the Okta steps need to know of the hook server.
type hookServerState struct {
	// generation of the Deployment this reconcile applied.
	generation int64
	// rolledOut: every replica runs that generation and is available, so
	// any pod Okta reaches serves the current spec.
	rolledOut bool
}

// reconcileHookServer applies the hook server's Deployment, autoscaler,
// Service and PodDisruptionBudget and reports HookServerAvailable from the
// Deployment as the apply returned it: the API server's live object, not the
// informer cache, which may still hold the previous spec's status.
func (r *TokenHookReconciler) reconcileHookServer(ctx context.Context, th *v1.TokenHook, auth *authPlan) (hookServerState, error) {
	if err := r.checkHookServerTLS(ctx, th); err != nil {
		return hookServerState{}, err
	}
	deploy := desiredDeployment(th, r.HookServerImage, podAuth{mode: auth.hookAuth.podMode, check: podOAuthCheck(th, auth.next, auth.hookAuth.oktaCheck), oktaCA: len(r.OktaCABundle) > 0})
	// A replaced auth Secret rolls the pods: only a rollout tells when every
	// replica has its files (authsecret.go).
	deploy.Spec.Template.Annotations = map[string]string{annotationAuthSecretUID: auth.secretUID}
	if err := r.prepareReplicas(ctx, th, deploy); err != nil {
		return hookServerState{}, err
	}
	live, err := r.apply(ctx, deploy)
	if err != nil {
		return hookServerState{}, fmt.Errorf("apply Deployment %q: %w", deploy.Name, err)
	}
	current := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, current); err != nil {
		return hookServerState{}, fmt.Errorf("read applied Deployment %q: %w", deploy.Name, err)
	}
	if err := r.reconcileAutoscaler(ctx, th); err != nil {
		return hookServerState{}, err
	}
	if _, err := r.apply(ctx, desiredService(th)); err != nil {
		return hookServerState{}, fmt.Errorf("apply Service %q: %w", hookServerName(th), err)
	}
	if wantsPDB(th) {
		if _, err := r.apply(ctx, desiredPDB(th)); err != nil {
			return hookServerState{}, fmt.Errorf("apply PodDisruptionBudget %q: %w", hookServerName(th), err)
		}
	} else {
		pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Namespace: th.Namespace, Name: hookServerName(th)}}
		if err := r.deleteOwned(ctx, pdb); err != nil {
			return hookServerState{}, fmt.Errorf("delete PodDisruptionBudget %q: %w", pdb.Name, err)
		}
	}

	th.Status.ReadyReplicas = current.Status.ReadyReplicas
	available, message := deploymentAvailable(current)
	if available {
		setTrue(th, v1.ConditionHookServerAvailable, v1.ReasonAvailable, message)
	} else {
		setFalse(th, v1.ConditionHookServerAvailable, v1.ReasonProgressing, message)
	}
	return hookServerState{generation: current.Generation, rolledOut: available && rolledOut(current)}, nil
}

// deploymentAvailable says whether the Deployment serves: its controller has
// seen the current spec and reports it Available with a ready replica.
func deploymentAvailable(d *appsv1.Deployment) (bool, string) {
	want := ptr.Deref(d.Spec.Replicas, 1)
	if d.Status.ObservedGeneration < d.Generation {
		return false, "the Deployment controller has not yet seen the latest hook server spec"
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && d.Status.AvailableReplicas > 0 {
			return true, fmt.Sprintf("%d of %d hook server replicas are available", d.Status.AvailableReplicas, want)
		}
	}
	return false, fmt.Sprintf("%d of %d hook server replicas are available", d.Status.AvailableReplicas, want)
}

// rolledOut is kubectl rollout status's test: the controller has seen the
// spec, and every replica is updated and available, none left over; and no
// old pod is still terminating, since one in its shutdown delay still
// answers the calls of connections Okta kept alive, with the old spec.
// (terminatingReplicas is reported from Kubernetes 1.33 on; without it, the
// hook server's shutdown closes those connections within a call.)
func rolledOut(d *appsv1.Deployment) bool {
	want := ptr.Deref(d.Spec.Replicas, 1)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas >= want &&
		s.Replicas == s.UpdatedReplicas && s.AvailableReplicas >= s.UpdatedReplicas &&
		ptr.Deref(s.TerminatingReplicas, 0) == 0
}

// deleteOwned deletes an object the controller owns and watches, if the
// cache holds it: most TokenHooks never had one, and a delete of nothing is
// still a round trip. One created so recently that the cache has not seen
// it is deleted by the reconcile its creation event triggers.
func (r *TokenHookReconciler) deleteOwned(ctx context.Context, obj client.Object) error {
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	return client.IgnoreNotFound(r.Delete(ctx, obj))
}

// apply server-side applies a whole object built by a pure builder: fields it
// sets are ours and put back if changed; fields it leaves out are released.
// It returns the object as the API server stored it, or, when the cache shows
// it as the last apply of the same configuration left it (appliedMemo), the
// cached object without a round trip.
func (r *TokenHookReconciler) apply(ctx context.Context, obj client.Object) (*unstructured.Unstructured, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	// Typed structs serialise these zero values; they are not ours to own.
	unstructured.RemoveNestedField(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
	live := &unstructured.Unstructured{Object: u}
	key := appliedKey{gvk: live.GroupVersionKind(), NamespacedName: client.ObjectKeyFromObject(live)}
	sum, err := applySum(u)
	if err != nil {
		return nil, fmt.Errorf("fingerprint %T: %w", obj, err)
	}
	now := r.Clock.Now()
	if cached, ok := r.cachedForSkip(ctx, key.gvk, key.NamespacedName); ok && r.applied.unchanged(key, sum, live, cached, now, r.DriftInterval) {
		return toUnstructured(cached)
	}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(live), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return nil, err
	}
	r.applied.record(key, sum, live, now)
	return live, nil
}

package controllers

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// replicasHandoverOwner holds a hook server Deployment's spec.replicas
// between the controller's last apply of it and the autoscaler's first
// write. Without it, the apply that drops the field would reset it to 1:
// server-side apply's procedure for handing a field to an HPA
// (kubernetes.io/docs/reference/using-api/server-side-apply, "Transferring
// ownership").
const replicasHandoverOwner = "tokenhook-replicas-handover"

// prepareReplicas sets up spec.replicas of the Deployment about to be applied
// when spec.hookServer.autoscaling is on. A new Deployment starts at
// minReplicas; an existing one that the controller still scales is handed
// over at its current size, and the apply then leaves the field out.
func (r *TokenHookReconciler) prepareReplicas(ctx context.Context, th *v1.TokenHook, deploy *appsv1.Deployment) error {
	if th.Spec.HookServer.Autoscaling == nil {
		return nil
	}
	current := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKeyFromObject(deploy), current)
	if apierrors.IsNotFound(err) {
		// The cache may not have seen a Deployment the autoscaler already
		// sized; only a live miss means it is ours to create.
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(deploy), current)
	}
	if apierrors.IsNotFound(err) {
		// Handed over on the next reconcile, which its creation triggers.
		deploy.Spec.Replicas = ptr.To(minReplicas(th))
		return nil
	}
	if err != nil {
		return fmt.Errorf("get Deployment %q: %w", deploy.Name, err)
	}
	if !appliesReplicas(current) {
		return nil
	}
	// The cache may lag behind the autoscaler: hand over the live size.
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(deploy), current); err != nil {
		return fmt.Errorf("get Deployment %q: %w", deploy.Name, err)
	}
	if !appliesReplicas(current) {
		return nil
	}
	handover := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": current.Name, "namespace": current.Namespace},
		"spec":       map[string]any{"replicas": int64(ptr.Deref(current.Spec.Replicas, 1))},
	}}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(handover), client.FieldOwner(replicasHandoverOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("hand Deployment %q's replicas over to the autoscaler: %w", deploy.Name, err)
	}
	return nil
}

// appliesReplicas says whether the controller's applied configuration of
// the Deployment sets spec.replicas.
func appliesReplicas(d *appsv1.Deployment) bool {
	for _, mf := range d.ManagedFields {
		if mf.Manager != fieldOwner || mf.Operation != metav1.ManagedFieldsOperationApply || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]map[string]any
		if err := json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields); err != nil {
			continue
		}
		if _, ok := fields["f:spec"]["f:replicas"]; ok {
			return true
		}
	}
	return false
}

// reconcileAutoscaler applies the HorizontalPodAutoscaler, or deletes it
// when autoscaling is off.
func (r *TokenHookReconciler) reconcileAutoscaler(ctx context.Context, th *v1.TokenHook) error {
	if th.Spec.HookServer.Autoscaling != nil {
		if _, err := r.apply(ctx, desiredHPA(th)); err != nil {
			return fmt.Errorf("apply HorizontalPodAutoscaler %q: %w", hookServerName(th), err)
		}
		return nil
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: th.Namespace, Name: hookServerName(th)}}
	if err := r.deleteOwned(ctx, hpa); err != nil {
		return fmt.Errorf("delete HorizontalPodAutoscaler %q: %w", hpa.Name, err)
	}
	return nil
}

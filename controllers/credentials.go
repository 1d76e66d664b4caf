package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// The finalizer's Okta clean-up needs the credentials Secret, but deleting a
// namespace deletes its Secrets and TokenHooks in no set order: without the
// credentials, the TokenHook would wait in Terminating forever. So, as
// Kubernetes protects a PersistentVolumeClaim in use, a credentials Secret
// carries credentialsFinalizer while a TokenHook needs it: the TokenHook
// reconcile adds it, and the credentials controller below removes it once no
// TokenHook needs the Secret any more.
const (
	credentialsFinalizer = "tokenhook.io/credentials-in-use"
	indexCredentials     = ".spec.okta.credentialsSecretRef.name"
)

// needsCredentials: a TokenHook needs its credentials Secret until its own
// finalizer is gone, i.e. until its Okta clean-up is done (or skipped, with
// deletionPolicy Orphan). One not yet reconciled needs it too.
func needsCredentials(th *v1.TokenHook) bool {
	return th.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(th, finalizer)
}

func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// protectCredentials puts credentialsFinalizer on the TokenHook's credentials
// Secret. The metadata cache answers in the steady state; the API server is
// asked only when the cache shows no finalizer. A missing Secret is left to
// the Okta stage to report; one already being deleted can take no new
// finalizer (the API server refuses), so it goes as it would have before.
func (r *TokenHookReconciler) protectCredentials(ctx context.Context, th *v1.TokenHook) error {
	key := types.NamespacedName{Namespace: th.Namespace, Name: th.Spec.Okta.CredentialsSecretRef.Name}
	cached := secretMetadata()
	if err := r.Get(ctx, key, cached); err == nil && controllerutil.ContainsFinalizer(cached, credentialsFinalizer) {
		return nil
	}
	sec := secretMetadata()
	if err := r.APIReader.Get(ctx, key, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("get Okta credentials Secret %q: %w", key.Name, err)
	}
	if !sec.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(sec, credentialsFinalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(sec.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(sec, credentialsFinalizer)
	if err := r.Patch(ctx, sec, patch); err != nil {
		return fmt.Errorf("add finalizer %s to Okta credentials Secret %q: %w", credentialsFinalizer, key.Name, err)
	}
	return nil
}

// credentialsReconciler removes credentialsFinalizer from a Secret that no
// TokenHook needs: every TokenHook that named it is gone, done with its Okta
// clean-up, or names another Secret now.
type credentialsReconciler struct {
	client.Client
}

func (r *credentialsReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sec := secretMetadata()
	if err := r.Get(ctx, req.NamespacedName, sec); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !controllerutil.ContainsFinalizer(sec, credentialsFinalizer) {
		return ctrl.Result{}, nil
	}
	var list v1.TokenHookList
	if err := r.List(ctx, &list, client.InNamespace(req.Namespace), client.MatchingFields{indexCredentials: req.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list TokenHooks using Secret %q: %w", req.Name, err)
	}
	for i := range list.Items {
		if needsCredentials(&list.Items[i]) {
			return ctrl.Result{}, nil
		}
	}
	// The optimistic lock loses to a TokenHook reconcile that has just
	// protected the Secret again from a fresher view.
	patch := client.MergeFromWithOptions(sec.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(sec, credentialsFinalizer)
	if err := r.Patch(ctx, sec, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("remove finalizer %s from Secret %q: %w", credentialsFinalizer, req.Name, err))
	}
	return ctrl.Result{}, nil
}

// setupCredentialsController watches the Secrets that carry the finalizer,
// and the TokenHooks, mapped to the credentials Secret they name (on an
// update, both the old and the new one: a TokenHook moved to another Secret
// releases the first).
func setupCredentialsController(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1.TokenHook{}, indexCredentials, func(o client.Object) []string {
		return []string{o.(*v1.TokenHook).Spec.Okta.CredentialsSecretRef.Name}
	}); err != nil {
		return fmt.Errorf("index %s: %w", indexCredentials, err)
	}
	protected := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return controllerutil.ContainsFinalizer(o, credentialsFinalizer)
	})
	credentialsOf := func(_ context.Context, o client.Object) []reconcile.Request {
		th, ok := o.(*v1.TokenHook)
		if !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: th.Namespace, Name: th.Spec.Okta.CredentialsSecretRef.Name}}}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Secret{}, builder.OnlyMetadata, builder.WithPredicates(protected)).
		Watches(&v1.TokenHook{}, handler.EnqueueRequestsFromMapFunc(credentialsOf)).
		Named("tokenhook-credentials").
		Complete(&credentialsReconciler{Client: mgr.GetClient()})
}

// Package controllers holds the TokenHook controller: it deploys the hook
// server, registers it as an Okta token inline hook, links it to a policy
// rule, and undoes all of that when the TokenHook is deleted.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
)

const (
	// finalizer holds a TokenHook until its Okta objects are cleaned up.
	finalizer = "tokenhook.io/okta-cleanup"
	// fieldOwner owns the fields of the objects the controller applies.
	fieldOwner = "tokenhook-controller"

	indexConfigMap = ".spec.patients.configMapRef.name"
	indexSecrets   = ".spec.secretRefs"
)

// DefaultMaxConcurrentReconciles: a reconcile never waits on an org's Okta
// budget (it books its calls and is requeued for its turn), so a worker is
// held only by the reconcile's own round trips to the API server and Okta.
// At 4, 300 new TokenHooks took three times as long as their Okta budget
// allows, the API server half idle; the client-side limit
// (--kube-api-qps) and the Okta budgets bound what more workers send.
const DefaultMaxConcurrentReconciles = 16

// Options are the controller's settings, from the manager's flags.
type Options struct {
	// HookServerImage is the default hook server image: the operator's own.
	HookServerImage string
	// DriftInterval is how often Okta is checked for changes made there.
	DriftInterval time.Duration
	// RotationGrace is how long a new auth secret waits at each step of a
	// rotation (for kubelet to refresh the pods' files, and for calls in
	// flight to finish).
	RotationGrace time.Duration
	// OktaCallsPerMinute caps the operator's Okta calls per org.
	OktaCallsPerMinute int
	// OktaHTTPClient carries a custom CA or proxy for Okta; nil for defaults.
	OktaHTTPClient *http.Client
	// OktaCABundle is that custom CA (PEM), which hook server pods with
	// OAuth hook auth trust for fetching the signing keys; nil for none.
	OktaCABundle []byte
	// NewOktaClient builds Okta clients; nil means okta.NewClient.
	NewOktaClient OktaClientFactory
	// OktaMetrics counts Okta calls; nil disables.
	OktaMetrics *okta.Metrics
	// MaxConcurrentReconciles, default DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
	// BackoffBase and BackoffMax bound the per-TokenHook retry backoff
	// after a failed reconcile; defaults 5s and 10 minutes.
	BackoffBase, BackoffMax time.Duration
	// Clock, for tests.
	Clock clock.PassiveClock
}

// TokenHookReconciler reconciles TokenHook objects.
type TokenHookReconciler struct {
	client.Client
	// APIReader reads Secrets and ConfigMaps directly: the manager caches
	// only their metadata, not every Secret in the cluster.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Options

	okta       *oktaClients
	oktaSynced oktaSyncs
	authStates authMemory
	applied    appliedMemo
	// What the direct reads found, by resourceVersion (memo.go).
	credentialsRead readMemo[okta.Config]
	authSecretRead  readMemo[authSecretState]
	patientsRead    readMemo[patientsResult]
}

// NewTokenHookReconciler wires a reconciler to a manager.
func NewTokenHookReconciler(mgr ctrl.Manager, opts Options) *TokenHookReconciler {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.DriftInterval <= 0 {
		opts.DriftInterval = 5 * time.Minute
	}
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = DefaultMaxConcurrentReconciles
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 5 * time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 10 * time.Minute
	}
	return &TokenHookReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    mgr.GetScheme(),
		Recorder:  mgr.GetEventRecorder("tokenhook-controller"),
		Options:   opts,
		// Every TokenHook reaches Okta at least once per drift interval or
		// backoff, so twice the longer of the two marks a client as unused.
		// A listing answers reads for half a drift period: a change made
		// in Okta is seen within one and a half.
		okta: newOktaClients(opts.NewOktaClient, opts.OktaMetrics, opts.OktaHTTPClient, opts.OktaCallsPerMinute,
			opts.DriftInterval/2, opts.Clock, 2*max(opts.DriftInterval, opts.BackoffMax)),
	}
}

// specError is a problem only a change to the spec or to a referenced object
// can fix: it sets a False condition and waits for that change.
type specError struct{ reason, msg string }

func (e *specError) Error() string { return e.msg }

func isSpecError(err error) bool {
	var se *specError
	return errors.As(err, &se)
}

// conflictError: an Okta object that belongs to someone else.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }

// +kubebuilder:rbac:groups=tokenhook.io,resources=tokenhooks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tokenhook.io,resources=tokenhooks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tokenhook.io,resources=tokenhooks/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// The credentials Secret gets and loses the credentials-in-use finalizer by patch.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one TokenHook's hook server and Okta objects to its spec.
func (r *TokenHookReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	th := &v1.TokenHook{}
	if err := r.Get(ctx, req.NamespacedName, th); err != nil {
		if apierrors.IsNotFound(err) {
			tokenHookReadiness.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !th.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, th)
	}
	// The finalizer is stored before the first Okta create, so a hook can
	// never exist in Okta without something to clean it up.
	// A patch of the finalizers alone: an Update would write back the spec
	// as the Go type serialises it (empty structs included), bumping the
	// generation of a TokenHook nobody edited.
	before := th.DeepCopy()
	if controllerutil.AddFinalizer(th, finalizer) {
		if err := r.Patch(ctx, th, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}
	orig := th.DeepCopy()
	deferred := false // the Okta sync waits for the org's budget
	defer func() {
		// Status says what this reconcile achieved, never more: a failed
		// one neither advances observedGeneration nor leaves Ready True.
		if err == nil && !deferred {
			th.Status.ObservedGeneration = th.Generation
		}
		setReady(th)
		if msg, failed := kubernetesFailure(err); failed {
			setFalse(th, v1.ConditionReady, v1.ReasonKubernetesAPIError, msg)
			r.event(th, corev1.EventTypeWarning, v1.ReasonKubernetesAPIError, "Reconcile", "%s", msg)
		}
		tokenHookReadiness.record(th)
		if equality.Semantic.DeepEqual(orig.Status, th.Status) {
			return
		}
		// Optimistic lock: a reconcile that started from a stale read must
		// not overwrite the status a newer one wrote (it retries instead).
		// The version is the one after this reconcile's own writes to th
		// (recordInlineHookID), which are no conflict.
		orig.ResourceVersion = th.ResourceVersion
		if perr := r.Status().Patch(ctx, th, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); perr != nil {
			err = errors.Join(err, fmt.Errorf("update status: %w", perr))
		}
	}()

	// The clean-up needs the credentials: they are protected as early.
	if err := r.protectCredentials(ctx, th); err != nil {
		return ctrl.Result{}, err
	}

	if th.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	auth, err := r.reconcileAuthSecret(ctx, th)
	if err != nil {
		var se *specError
		if errors.As(err, &se) {
			setFalse(th, v1.ConditionHookServerAvailable, se.reason, se.msg)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if err := r.reconcileHookAuth(ctx, th, auth); err != nil {
		var se *specError
		if errors.As(err, &se) {
			// What Okta would send is unknown: nothing changes, neither
			// the pods nor Okta's channel.
			setFalse(th, v1.ConditionInlineHookRegistered, se.reason, se.msg)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	hs, err := r.reconcileHookServer(ctx, th, auth)
	if err != nil {
		var se *specError
		if errors.As(err, &se) {
			// The running pods keep serving; nothing new is rolled out.
			setFalse(th, v1.ConditionHookServerAvailable, se.reason, se.msg)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if err := r.reconcilePatients(ctx, th); err != nil {
		return ctrl.Result{}, err
	}
	next := r.driftCheckIn()
	inputs := r.oktaInputs(ctx, th, auth, hs)
	// The mark says what this process synced; status must say it too (a
	// status write that was lost or overtaken leaves the Okta conditions
	// of an older generation, and only a sync confirms them again).
	if fresh, due := r.oktaSynced.upToDate(th.UID, inputs, r.Clock.Now()); fresh && oktaConditionsCurrent(th) {
		// Nothing Okta depends on changed since the last sync.
		next = min(next, due)
	} else {
		c, err := r.oktaClientFor(ctx, th)
		if err != nil {
			return ctrl.Result{}, r.oktaFailed(th, v1.ConditionInlineHookRegistered, "connect to Okta", err)
		}
		octx, wait := r.bookOktaCalls(ctx, th, r.oktaCallsAhead(th))
		if wait > 0 {
			// The org's budget is booked up to then; the calls are held
			// for this TokenHook, and nothing in status moves on.
			deferred = true
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		if err := r.reconcileOkta(octx, th, c, auth, hs); err != nil {
			return ctrl.Result{}, err
		}
		// The sync may have moved status and the auth plan on: fingerprint
		// what the next reconcile will see. A hook key step waiting for
		// something (an admin, a grace period, a schedule) syncs again then.
		due := r.DriftInterval * 9 / 10
		if w := auth.keys.requeueIn; w > 0 && w < due {
			due = w
		}
		r.oktaSynced.done(th.UID, r.oktaInputs(ctx, th, auth, hs), r.Clock.Now().Add(due))
	}
	for _, wait := range []time.Duration{auth.requeueIn, auth.hookAuth.requeueIn, auth.keys.requeueIn} {
		if wait > 0 && wait < next {
			next = wait
		}
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// kubernetesFailure says whether err came from the Kubernetes API (Okta's
// failures have their own conditions), and how to report it: the message
// of a Forbidden error names the verb and resource the role lacks.
func kubernetesFailure(err error) (string, bool) {
	var status apierrors.APIStatus
	// A conflict only means a newer version exists: the retry reads it.
	if err == nil || !errors.As(err, &status) || apierrors.IsConflict(err) {
		return "", false
	}
	return fmt.Sprintf("a Kubernetes API call failed, retrying with backoff: %v", err), true
}

// finalize cleans up Okta (unless the policy is Orphan) and releases the
// TokenHook. Okta errors keep the finalizer and retry with backoff; the
// owned Kubernetes objects go with their owner, and the credentials Secret
// is released by the credentials controller once this finalizer is gone.
func (r *TokenHookReconciler) finalize(ctx context.Context, th *v1.TokenHook) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(th, finalizer) {
		return ctrl.Result{}, nil
	}
	if th.Spec.DeletionPolicy != v1.DeletionPolicyOrphan {
		octx, wait := r.bookOktaCalls(ctx, th, r.oktaCleanupCalls(th))
		if wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		if err := r.cleanupOkta(octx, th); err != nil {
			orig := th.DeepCopy()
			msg := fmt.Sprintf("deleting: Okta clean-up failed, retrying: %v", err)
			reason := v1.ReasonOktaUnavailable
			var se *specError
			if errors.As(err, &se) {
				reason = se.reason
				msg += "; fix that, or set spec.deletionPolicy to Orphan to delete without touching Okta"
			}
			setFalse(th, v1.ConditionInlineHookRegistered, reason, msg)
			setReady(th)
			tokenHookReadiness.record(th)
			if perr := r.Status().Patch(ctx, th, client.MergeFrom(orig)); perr != nil {
				err = errors.Join(err, perr)
			}
			// Even a spec error retries: the finalizer is never dropped
			// silently; deletionPolicy Orphan is the way out.
			return ctrl.Result{}, fmt.Errorf("clean up Okta: %w", err)
		}
	}
	before := th.DeepCopy()
	controllerutil.RemoveFinalizer(th, finalizer)
	if err := r.Patch(ctx, th, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, fmt.Errorf("remove finalizer: %w", err)
	}
	r.oktaSynced.forget(th.UID)
	r.authStates.forget(th.UID)
	r.applied.forget(th.Namespace, hookServerName(th), authSecretName(th))
	r.authSecretRead.forget(types.NamespacedName{Namespace: th.Namespace, Name: authSecretName(th)})
	r.okta.org(th.Spec.Okta.OrgURL).budget.forget(th.UID)
	return ctrl.Result{}, nil
}

// driftCheckIn jitters the drift period by ±10%, so TokenHooks created
// together do not hit Okta together forever after.
func (r *TokenHookReconciler) driftCheckIn() time.Duration {
	d := r.DriftInterval
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

func (r *TokenHookReconciler) event(th *v1.TokenHook, eventType, reason, action, note string, args ...any) {
	if r.Recorder != nil {
		r.Recorder.Eventf(th, nil, eventType, reason, action, note, args...)
	}
}

// SetupWithManager registers the controller, its watches and indexes.
func (r *TokenHookReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := setupCredentialsController(ctx, mgr); err != nil {
		return err
	}
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1.TokenHook{}, indexConfigMap, func(o client.Object) []string {
		return []string{o.(*v1.TokenHook).Spec.Patients.ConfigMapRef.Name}
	}); err != nil {
		return fmt.Errorf("index %s: %w", indexConfigMap, err)
	}
	if err := idx.IndexField(ctx, &v1.TokenHook{}, indexSecrets, func(o client.Object) []string {
		th := o.(*v1.TokenHook)
		names := []string{th.Spec.Okta.CredentialsSecretRef.Name}
		if th.Spec.AuthSecretRef != nil {
			names = append(names, th.Spec.AuthSecretRef.Name)
		}
		if th.Spec.HookServer.TLS != nil {
			names = append(names, th.Spec.HookServer.TLS.SecretName)
		}
		if o := th.Spec.HookAuth.OAuth; o != nil && o.ClientSecretPost != nil {
			names = append(names, o.ClientSecretPost.SecretRef.Name)
		}
		return names
	}); err != nil {
		return fmt.Errorf("index %s: %w", indexSecrets, err)
	}

	return ctrl.NewControllerManagedBy(mgr).
		// Our own status writes would each cost another round of Okta
		// reads; spec, label and annotation changes still count, and so
		// does deletion, which bumps metadata.generation.
		For(&v1.TokenHook{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		// Only Deployment changes that matter: its status changes often.
		Owns(&appsv1.Deployment{}, builder.WithPredicates(deploymentChanged())).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		// The autoscaler rewrites its status every few seconds; only its
		// spec is ours.
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.Secret{}, builder.OnlyMetadata).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.requestsFor(indexConfigMap)), builder.OnlyMetadata).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.requestsFor(indexSecrets)), builder.OnlyMetadata).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			// Okta is a rate-limited SaaS: back off from 5s to 10 minutes.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](r.BackoffBase, r.BackoffMax),
		}).
		Named("tokenhook").
		Complete(r)
}

// requestsFor maps a ConfigMap or Secret to the TokenHooks that name it.
func (r *TokenHookReconciler) requestsFor(index string) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		var list v1.TokenHookList
		if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{index: obj.GetName()}); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, th := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&th)})
		}
		return reqs
	}
}

package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// oktaSyncs remembers what the last complete Okta sync of each TokenHook saw,
// so that a reconcile that changes nothing Okta depends on (a pod turning
// ready, an autoscaler step, a patient list edit) makes no Okta call until
// the next drift check. A new leader starts empty and syncs each TokenHook
// once.
type oktaSyncs struct {
	mu sync.Mutex
	m  map[types.UID]oktaSync
}

type oktaSync struct {
	inputs string
	due    time.Time
}

// upToDate reports whether the last sync saw these inputs and is not yet due
// for its drift check; if so, also how long until it is.
func (s *oktaSyncs) upToDate(uid types.UID, inputs string, now time.Time) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.m[uid]
	if !ok || last.inputs != inputs || !now.Before(last.due) {
		return false, 0
	}
	return true, last.due.Sub(now)
}

func (s *oktaSyncs) done(uid types.UID, inputs string, due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[types.UID]oktaSync{}
	}
	s.m[uid] = oktaSync{inputs: inputs, due: due}
}

func (s *oktaSyncs) forget(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, uid)
}

// oktaInputs fingerprints what the Okta steps read: the spec, the Okta ids in
// status, the auth secret plan, the hook server's state and the credentials
// Secret's version (read from the metadata cache, no API call).
func (r *TokenHookReconciler) oktaInputs(ctx context.Context, th *v1.TokenHook, auth *authPlan, hs hookServerState) string {
	creds := &metav1.PartialObjectMetadata{}
	creds.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	credsVersion := "absent"
	if err := r.Get(ctx, types.NamespacedName{Namespace: th.Namespace, Name: th.Spec.Okta.CredentialsSecretRef.Name}, creds); err == nil {
		credsVersion = creds.ResourceVersion
	}
	available := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionHookServerAvailable)
	// Whether the rollout is complete matters only while the route is unproven.
	routeProven := th.Status.InlineHookID != "" && auth.next.routeVerified == routeFingerprint(th, th.Status.InlineHookID, auth, hs)
	parts := []string{
		fmt.Sprint(th.Generation), th.Status.InlineHookID, th.Status.PolicyID, th.Status.RuleID,
		secretHash(auth.oktaValue), fmt.Sprint(auth.okta, auth.rotating, auth.awaitRollout),
		secretHash(auth.next.current), secretHash(auth.next.previous), auth.next.oktaHash, auth.next.routeVerified,
		fmt.Sprint(available != nil && available.Status == metav1.ConditionTrue, hs.generation, routeProven || hs.rolledOut),
		credsVersion,
		fmt.Sprint(auth.hookAuth.podMode, auth.hookAuth.channel, auth.hookAuth.awaitRollout, auth.hookAuth.switching),
		secretHash(auth.hookAuth.clientSecret), auth.next.oktaChannel, auth.next.clientSecretHash, auth.next.oktaHookKey,
		hookKeyInputs(th, r.Clock.Now(), r.RotationGrace),
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:])
}

// deploymentChanged passes the Deployment updates that change what the
// TokenHook reports or what Okta needs: its spec, whether it is available or
// rolled out, and its ready replicas. The rest of its status (conditions'
// heartbeats, observed counters) changes every few seconds and is noise.
func deploymentChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, okOld := e.ObjectOld.(*appsv1.Deployment)
		n, okNew := e.ObjectNew.(*appsv1.Deployment)
		if !okOld || !okNew {
			return true
		}
		oldAvail, _ := deploymentAvailable(o)
		newAvail, _ := deploymentAvailable(n)
		return o.Generation != n.Generation || oldAvail != newAvail || rolledOut(o) != rolledOut(n) ||
			o.Status.ReadyReplicas != n.Status.ReadyReplicas || !n.DeletionTimestamp.IsZero()
	}}
}

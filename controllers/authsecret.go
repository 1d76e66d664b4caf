package controllers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// The shared secret Okta sends on every hook call lives in an owned Secret
// that the hook server pods mount. Okta never returns it, so annotations on
// that Secret record what Okta has (as a hash, readable only by those who can
// read the Secret anyway) and when a rotation moved on.
//
// A rotation from old to new never fails a call:
//  1. the pods get current=new, previous=old and accept both;
//  2. after rotationGrace (time for kubelet to refresh the mounted files),
//     Okta gets new;
//  3. after rotationGrace again (calls Okta started with old), previous=new.
//
// When the Secret or its bookkeeping is lost, the value Okta sends lives on
// only in the pods' mounted files (kubelet keeps a volume's files while its
// Secret is gone, and replaces them within a minute or so once a Secret of
// that name is back) and in the operator's memory of the last Secret it
// applied. In that order of preference:
//   - the operator still remembers the Secret (authMemory): it is put back
//     as it was, and neither the pods nor Okta see a change;
//   - only the hash of what Okta has is gone: Okta is taken to send a value
//     the pods accept (it did, if calls succeeded), and the pods keep
//     accepting it while the desired value takes the rotation above;
//   - the Secret is gone and forgotten (the operator restarted meanwhile):
//     what Okta sends is known nowhere but in the running pods, so no pod
//     can be made to accept both. The new Secret (annotationOktaUnknown)
//     reaches the pods first: its UID is on the pod template, so the hook
//     server rolls out with it, and Okta gets its value only once every
//     replica runs it. Calls reaching new pods before that are refused,
//     unless the value did not change (spec.authSecretRef), which is then the
//     only case with no failed call.
const (
	annotationOktaSecretHash  = "tokenhook.io/okta-secret-sha256"
	annotationRotationStarted = "tokenhook.io/rotation-started"
	annotationOktaUpdated     = "tokenhook.io/okta-secret-updated"
	// annotationOktaUnknown marks a Secret made after the last one was lost
	// with what Okta has: Okta's value is not among the pods'.
	annotationOktaUnknown = "tokenhook.io/okta-secret-unknown"
	// annotationRouteVerified is the fingerprint of the last route Okta's
	// call was proven on (route_check.go).
	annotationRouteVerified = "tokenhook.io/route-verified"
	// annotationAuthSecretUID, on the hook server's pod template, rolls the
	// pods out when the auth Secret is replaced by a new object.
	annotationAuthSecretUID = "tokenhook.io/auth-secret-uid"
	// annotationOktaChannel is the channel Okta's hook has (hookauth.go),
	// annotationChannelSwitched when it last changed, and
	// annotationOktaClientSecretHash the hash of the OAuth client secret
	// Okta has (it never returns it).
	annotationOktaChannel          = "tokenhook.io/okta-channel"
	annotationChannelSwitched      = "tokenhook.io/okta-channel-switched"
	annotationOktaClientSecretHash = "tokenhook.io/okta-client-secret-sha256"
	annotationOktaOAuthCheck       = "tokenhook.io/okta-oauth-check"
	// annotationOktaHookKey is the hook key Okta's private_key_jwt channel
	// names (hookkeys.go): another key is another route to prove.
	annotationOktaHookKey = "tokenhook.io/okta-hook-key"
)

// authSecretState is the content of the owned auth Secret.
type authSecretState struct {
	current, previous string // the values the pods accept
	generated         string // the operator's own secret, when the spec names none
	oktaHash          string // sha256 of the value Okta has; "" when unknown
	oktaUnknown       bool   // Okta has a value the pods do not accept
	rotationStarted   time.Time
	oktaUpdated       time.Time
	routeVerified     string // fingerprint of the route Okta's call last reached
	oktaChannel       string // channelHTTP or channelOAuth; "" for HTTP recorded by no one
	channelSwitched   time.Time
	clientSecretHash  string // sha256 of the OAuth client secret Okta has
	oktaOAuthCheck    string // the oauthCheck of the last OAUTH channel Okta had, encoded
	oktaHookKey       string // the hook key a private_key_jwt channel of Okta's names
}

// annotations keep times to the nanosecond: whole seconds would cut a grace
// period short by up to one.
func (s authSecretState) annotations() map[string]string {
	a := map[string]string{}
	if s.oktaHash != "" {
		a[annotationOktaSecretHash] = s.oktaHash
	}
	if s.oktaUnknown {
		a[annotationOktaUnknown] = "true"
	}
	if !s.rotationStarted.IsZero() {
		a[annotationRotationStarted] = s.rotationStarted.UTC().Format(time.RFC3339Nano)
	}
	if !s.oktaUpdated.IsZero() {
		a[annotationOktaUpdated] = s.oktaUpdated.UTC().Format(time.RFC3339Nano)
	}
	if s.routeVerified != "" {
		a[annotationRouteVerified] = s.routeVerified
	}
	if s.oktaChannel != "" {
		a[annotationOktaChannel] = s.oktaChannel
	}
	if !s.channelSwitched.IsZero() {
		a[annotationChannelSwitched] = s.channelSwitched.UTC().Format(time.RFC3339Nano)
	}
	if s.clientSecretHash != "" {
		a[annotationOktaClientSecretHash] = s.clientSecretHash
	}
	if s.oktaOAuthCheck != "" {
		a[annotationOktaOAuthCheck] = s.oktaOAuthCheck
	}
	if s.oktaHookKey != "" {
		a[annotationOktaHookKey] = s.oktaHookKey
	}
	return a
}

func stateFromSecret(sec *corev1.Secret) authSecretState {
	parseTime := func(k string) time.Time {
		t, _ := time.Parse(time.RFC3339, sec.Annotations[k])
		return t
	}
	return authSecretState{
		current:          string(sec.Data[authKeyCurrent]),
		previous:         string(sec.Data[authKeyPrevious]),
		generated:        string(sec.Data[authKeyGenerated]),
		oktaHash:         sec.Annotations[annotationOktaSecretHash],
		oktaUnknown:      sec.Annotations[annotationOktaUnknown] == "true",
		rotationStarted:  parseTime(annotationRotationStarted),
		oktaUpdated:      parseTime(annotationOktaUpdated),
		routeVerified:    sec.Annotations[annotationRouteVerified],
		oktaChannel:      sec.Annotations[annotationOktaChannel],
		channelSwitched:  parseTime(annotationChannelSwitched),
		clientSecretHash: sec.Annotations[annotationOktaClientSecretHash],
		oktaOAuthCheck:   sec.Annotations[annotationOktaOAuthCheck],
		oktaHookKey:      sec.Annotations[annotationOktaHookKey],
	}
}

func secretHash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// authPlan says which secret Okta should have now, and when to look again.
type authPlan struct {
	next      authSecretState // what the owned Secret should hold
	oktaValue string          // the secret to send to Okta on create or update
	requeueIn time.Duration   // > 0 while a rotation waits for its grace period
	rotating  bool
	okta      bool // whether Okta is known to hold oktaValue
	// awaitRollout: Okta's value is one the pods do not accept; an existing
	// hook gets oktaValue only once the hook server has rolled out with the
	// Secret (secretUID), and is left alone until then.
	awaitRollout bool
	secretUID    string // the applied auth Secret's UID
	hookAuth     hookAuthPlan
	keys         hookKeyGoal // the hook keys of a private_key_jwt channel
}

// planAuthSecret moves a rotation on by at most one step. It is pure: the
// existing state (nil when there is no owned Secret), the desired value, the
// time, the grace period and whether a hook is registered in Okta (calls
// may come with what Okta has) decide everything.
func planAuthSecret(existing *authSecretState, desired string, now time.Time, grace time.Duration, registered bool) authPlan {
	if existing == nil || existing.oktaUnknown {
		s := authSecretState{current: desired, previous: desired}
		if existing != nil {
			s.routeVerified = existing.routeVerified
			s.oktaChannel, s.channelSwitched, s.clientSecretHash = existing.oktaChannel, existing.channelSwitched, existing.clientSecretHash
			s.oktaOAuthCheck, s.oktaHookKey = existing.oktaOAuthCheck, existing.oktaHookKey
		}
		if !registered {
			return authPlan{next: s, oktaValue: desired}
		}
		// The Secret was lost with what Okta sends (see the top of this file).
		s.oktaUnknown = true
		return authPlan{next: s, oktaValue: desired, awaitRollout: true, rotating: true}
	}
	s := *existing
	wantHash := secretHash(desired)

	// The value Okta has, if the Secret still holds it.
	oktaValue, known := "", false
	for _, v := range []string{existing.current, existing.previous} {
		if existing.oktaHash != "" && secretHash(v) == existing.oktaHash {
			oktaValue, known = v, true
			break
		}
	}

	switch {
	case !known && !registered:
		// No hook registered yet: the create sends the desired value.
		s.current, s.previous = desired, desired
		s.rotationStarted = time.Time{}
		return authPlan{next: s, oktaValue: desired}

	case !known && (desired == existing.current || desired == existing.previous):
		// The hash of what Okta has is lost. Okta sends a value the pods
		// accept, and they accept the desired one: send it, and keep the
		// other until Okta's calls with it are over (oktaUpdatedWith).
		s.rotationStarted = time.Time{}
		return authPlan{next: s, oktaValue: desired}

	case !known:
		// The hash is lost and the value is new: rotate from what Okta
		// most likely has, the old value of a rotation under way, else
		// the one the pods accept.
		assumed := existing.current
		if !existing.rotationStarted.IsZero() {
			assumed = existing.previous
		}
		s.oktaHash = secretHash(assumed)
		return planAuthSecret(&s, desired, now, grace, registered)

	case existing.oktaHash == wantHash:
		// Okta has the desired value; drop the old one once calls that
		// Okta started before its update have finished.
		s.current, s.rotationStarted = desired, time.Time{}
		if s.previous == desired {
			s.oktaUpdated = time.Time{}
			return authPlan{next: s, oktaValue: desired, okta: true}
		}
		if s.oktaUpdated.IsZero() {
			s.oktaUpdated = now
		}
		if wait := s.oktaUpdated.Add(grace).Sub(now); wait > 0 {
			return authPlan{next: s, oktaValue: desired, okta: true, rotating: true, requeueIn: wait}
		}
		s.previous, s.oktaUpdated = desired, time.Time{}
		return authPlan{next: s, oktaValue: desired, okta: true}

	default:
		// A new value: the pods accept both before Okta gets it.
		if s.current != desired || s.previous != oktaValue || s.rotationStarted.IsZero() {
			s.current, s.previous, s.rotationStarted = desired, oktaValue, now
		}
		s.oktaUpdated = time.Time{}
		if wait := s.rotationStarted.Add(grace).Sub(now); wait > 0 {
			return authPlan{next: s, oktaValue: oktaValue, okta: true, rotating: true, requeueIn: wait}
		}
		return authPlan{next: s, oktaValue: desired, rotating: true}
	}
}

// oktaUpdatedWith records that Okta now has value.
func (p *authPlan) oktaUpdatedWith(value string, now time.Time) {
	p.next.oktaHash = secretHash(value)
	p.next.oktaUnknown, p.awaitRollout = false, false
	p.okta = true
	if p.next.previous != value || p.next.current != value {
		p.next.oktaUpdated = now
		p.next.rotationStarted = time.Time{}
		p.rotating = true
	}
}

// desiredAuthValue reads the secret the user named, or the operator's own.
func (r *TokenHookReconciler) desiredAuthValue(ctx context.Context, th *v1.TokenHook, existing *authSecretState) (value, generated string, err error) {
	ref := th.Spec.AuthSecretRef
	if ref == nil {
		if existing != nil && existing.generated != "" {
			return existing.generated, existing.generated, nil
		}
		g, err := generateSecret()
		return g, g, err
	}
	sec := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: th.Namespace, Name: ref.Name}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", &specError{reason: v1.ReasonAuthSecretNotFound, msg: fmt.Sprintf("spec.authSecretRef: Secret %q not found", ref.Name)}
		}
		return "", "", fmt.Errorf("get auth Secret %q: %w", ref.Name, err)
	}
	// Secrets made from files often end in a newline, which no HTTP
	// header can carry.
	v := strings.TrimSpace(string(sec.Data[ref.Key]))
	if v == "" {
		return "", "", &specError{reason: v1.ReasonAuthSecretNotFound, msg: fmt.Sprintf("spec.authSecretRef: Secret %q has no non-empty key %q", ref.Name, ref.Key)}
	}
	return v, "", nil
}

// generateSecret makes 256 random bits, sent as a bearer credential.
func generateSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate auth secret: %w", err)
	}
	return "Bearer " + base64.RawURLEncoding.EncodeToString(b), nil
}

// reconcileAuthSecret plans the next rotation step and applies the owned
// Secret the pods mount.
func (r *TokenHookReconciler) reconcileAuthSecret(ctx context.Context, th *v1.TokenHook) (*authPlan, error) {
	existing, err := r.observeAuthSecret(ctx, th)
	if err != nil {
		return nil, err
	}
	desired, generated, err := r.desiredAuthValue(ctx, th, existing)
	if err != nil {
		return nil, err
	}
	plan := planAuthSecret(existing, desired, r.Clock.Now(), r.RotationGrace, th.Status.InlineHookID != "")
	plan.next.generated = generated
	if err := r.saveAuthSecret(ctx, th, &plan); err != nil {
		return nil, err
	}
	return &plan, nil
}

// observeAuthSecret reads the owned Secret's state; nil when there is none.
// What a lost Secret or lost annotations held comes back from memory, as long
// as the values the Secret still has are the remembered ones.
func (r *TokenHookReconciler) observeAuthSecret(ctx context.Context, th *v1.TokenHook) (*authSecretState, error) {
	remembered, ok := r.authStates.recall(th.UID)
	key := types.NamespacedName{Namespace: th.Namespace, Name: authSecretName(th)}
	rv := r.cachedVersion(ctx, "Secret", key)
	if rv == "" {
		r.authSecretRead.forget(key)
	}
	// Unchanged since this process last applied it: it holds what the
	// apply returned.
	if s, fresh := r.authSecretRead.get(key, rv); fresh {
		return &s, nil
	}
	sec := &corev1.Secret{}
	err := r.APIReader.Get(ctx, key, sec)
	switch {
	case apierrors.IsNotFound(err) && ok:
		logf.FromContext(ctx).Info("Putting back the lost hook server auth Secret as it was", "secret", authSecretName(th))
		return &remembered, nil
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get auth Secret %q: %w", authSecretName(th), err)
	}
	s := stateFromSecret(sec)
	if ok && s.oktaHash == "" && !s.oktaUnknown && remembered.oktaHash != "" &&
		s.current == remembered.current && s.previous == remembered.previous {
		logf.FromContext(ctx).Info("Putting back the lost annotations of the hook server auth Secret", "secret", authSecretName(th))
		return &remembered, nil
	}
	return &s, nil
}

// saveAuthSecret applies the plan's Secret, and remembers it.
func (r *TokenHookReconciler) saveAuthSecret(ctx context.Context, th *v1.TokenHook, plan *authPlan) error {
	live, err := r.apply(ctx, desiredAuthSecret(th, plan.next, r.OktaCABundle))
	if err != nil {
		return fmt.Errorf("apply auth Secret %q: %w", authSecretName(th), err)
	}
	plan.secretUID = string(live.GetUID())
	r.authStates.remember(th.UID, plan.next)
	// A Secret the API server returned whole (not the cache's metadata after
	// a skipped apply) is what the next reconcile would read.
	if _, whole := live.Object["data"]; whole {
		sec := &corev1.Secret{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, sec); err == nil {
			r.authSecretRead.put(client.ObjectKeyFromObject(sec), sec.ResourceVersion, stateFromSecret(sec))
		}
	}
	return nil
}

// authMemory keeps the auth Secret state last applied for each TokenHook, so
// that a Secret deleted behind the operator's back comes back with the values
// the pods and Okta still have. It holds what the operator may read anyway,
// in memory only, and forgets a TokenHook once it is deleted.
type authMemory struct {
	mu sync.Mutex
	m  map[types.UID]authSecretState
}

func (a *authMemory) recall(uid types.UID) (authSecretState, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.m[uid]
	return s, ok
}

func (a *authMemory) remember(uid types.UID, s authSecretState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[types.UID]authSecretState{}
	}
	a.m[uid] = s
}

func (a *authMemory) forget(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, uid)
}

package controllers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

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
const (
	annotationOktaSecretHash  = "tokenhook.io/okta-secret-sha256"
	annotationRotationStarted = "tokenhook.io/rotation-started"
	annotationOktaUpdated     = "tokenhook.io/okta-secret-updated"
	// annotationRouteVerified is the fingerprint of the last route Okta's
	// call was proven on (route_check.go).
	annotationRouteVerified = "tokenhook.io/route-verified"
)

// authSecretState is the content of the owned auth Secret.
type authSecretState struct {
	current, previous string // the values the pods accept
	generated         string // the operator's own secret, when the spec names none
	oktaHash          string // sha256 of the value Okta has; "" when unknown
	rotationStarted   time.Time
	oktaUpdated       time.Time
	routeVerified     string // fingerprint of the route Okta's call last reached
}

func (s authSecretState) annotations() map[string]string {
	a := map[string]string{}
	if s.oktaHash != "" {
		a[annotationOktaSecretHash] = s.oktaHash
	}
	if !s.rotationStarted.IsZero() {
		a[annotationRotationStarted] = s.rotationStarted.UTC().Format(time.RFC3339)
	}
	if !s.oktaUpdated.IsZero() {
		a[annotationOktaUpdated] = s.oktaUpdated.UTC().Format(time.RFC3339)
	}
	if s.routeVerified != "" {
		a[annotationRouteVerified] = s.routeVerified
	}
	return a
}

func stateFromSecret(sec *corev1.Secret) authSecretState {
	parseTime := func(k string) time.Time {
		t, _ := time.Parse(time.RFC3339, sec.Annotations[k])
		return t
	}
	return authSecretState{
		current:         string(sec.Data[authKeyCurrent]),
		previous:        string(sec.Data[authKeyPrevious]),
		generated:       string(sec.Data[authKeyGenerated]),
		oktaHash:        sec.Annotations[annotationOktaSecretHash],
		rotationStarted: parseTime(annotationRotationStarted),
		oktaUpdated:     parseTime(annotationOktaUpdated),
		routeVerified:   sec.Annotations[annotationRouteVerified],
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
}

// planAuthSecret moves a rotation on by at most one step. It is pure: the
// existing state (nil when there is no owned Secret yet), the desired value,
// the time and the grace period decide everything.
func planAuthSecret(existing *authSecretState, desired string, now time.Time, grace time.Duration) authPlan {
	if existing == nil {
		s := authSecretState{current: desired, previous: desired}
		return authPlan{next: s, oktaValue: desired}
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
	case !known:
		// No hook registered yet, or we lost track of what Okta has: the
		// next create or update sends the desired value.
		s.current, s.previous = desired, desired
		s.rotationStarted = time.Time{}
		return authPlan{next: s, oktaValue: desired}

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
	var existing *authSecretState
	sec := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: th.Namespace, Name: authSecretName(th)}, sec)
	switch {
	case err == nil:
		s := stateFromSecret(sec)
		existing = &s
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("get auth Secret %q: %w", authSecretName(th), err)
	}
	desired, generated, err := r.desiredAuthValue(ctx, th, existing)
	if err != nil {
		return nil, err
	}
	plan := planAuthSecret(existing, desired, r.Clock.Now(), r.RotationGrace)
	plan.next.generated = generated
	if _, err := r.apply(ctx, desiredAuthSecret(th, plan.next)); err != nil {
		return nil, fmt.Errorf("apply auth Secret %q: %w", authSecretName(th), err)
	}
	return &plan, nil
}

// saveAuthSecret persists the plan after Okta accepted a new secret.
func (r *TokenHookReconciler) saveAuthSecret(ctx context.Context, th *v1.TokenHook, plan *authPlan) error {
	if _, err := r.apply(ctx, desiredAuthSecret(th, plan.next)); err != nil {
		return fmt.Errorf("apply auth Secret %q: %w", authSecretName(th), err)
	}
	return nil
}

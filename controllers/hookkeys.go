package controllers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
)

// Hook keys of a private_key_jwt channel (spec.hookAuth.oauth.privateKeyJWT).
// Okta generates each key pair and keeps the private key; the service app's
// JWKS must hold the public key, or Okta's token requests as the app fail. So
// the channel names a key only once the app has it, and a rotation never
// fails a call:
//  1. a new key is made (status.hookAuth.nextHookKey), beside the one in use;
//  2. it is added to the app's JWKS: by the operator (registerInApp, scope
//     okta.apps.manage), or by an admin, which the operator sees by reading
//     the JWKS (okta.apps.read) or, without that scope, by the annotation
//     tokenhook.io/hook-key-registered naming its kid;
//  3. only then the channel moves to it, and the old key is retired;
//  4. after the rotation grace, the old key is deleted, and the JWKS entry
//     the operator added for it is deactivated and deleted.
//
// Keys are named tokenhook/<namespace>/<name>/<uid>/<n>, n counting up: the
// name of the next key is known before it is made, so a crash between a
// create and the status write finds the key by name instead of making a
// second one, and every key with the prefix is this TokenHook's (neither a
// namespace nor a name holds a '/'). Which key Okta's channel uses is read
// from the hook itself, so a lost status is rebuilt from Okta. The finalizer,
// and a switch away from privateKeyJWT, retire and delete them all.

// hookKeyGoal is what a reconcile's hook key step decided for the channel.
type hookKeyGoal struct {
	// channelKeyID is the key the channel should name now; "" holds the
	// channel as Okta has it (a new hook waits to be created).
	channelKeyID string
	// unverifiable: the operator cannot read the app's JWKS (403), and
	// relies on Okta's call (the route check) or the admin's annotation.
	unverifiable bool
	// rotationFailed says why a rotation could not start (the key cap).
	rotationFailed string
	requeueIn      time.Duration // > 0: look again then (a grace, a schedule, an admin)
}

// pollForAdmin is how often the app's JWKS is read while a key waits for an
// admin to add it there.
const pollForAdmin = 30 * time.Second

// usesPrivateKeyJWT says whether the spec asks for a private_key_jwt channel.
func usesPrivateKeyJWT(th *v1.TokenHook) bool {
	o := th.Spec.HookAuth.OAuth
	return th.Spec.HookAuth.Type == v1.HookAuthOAuth && o != nil && o.PrivateKeyJWT != nil
}

// hookKeyApp is the Okta app whose JWKS holds the hook keys.
func hookKeyApp(th *v1.TokenHook) string {
	o := th.Spec.HookAuth.OAuth
	if o == nil {
		return ""
	}
	if o.PrivateKeyJWT != nil && o.PrivateKeyJWT.AppID != "" {
		return o.PrivateKeyJWT.AppID
	}
	return o.ClientID
}

func registersInApp(th *v1.TokenHook) bool {
	return usesPrivateKeyJWT(th) && th.Spec.HookAuth.OAuth.PrivateKeyJWT.RegisterInApp
}

// hookKeyPrefix starts the names of the TokenHook's hook keys (at most
// 10+63+1+52+1+36+1 characters, then the number; Okta allows 255).
func hookKeyPrefix(th *v1.TokenHook) string {
	return "tokenhook/" + th.Namespace + "/" + th.Name + "/" + string(th.UID) + "/"
}

func hookKeyName(th *v1.TokenHook, n int) string { return hookKeyPrefix(th) + strconv.Itoa(n) }

// hookKeyNumber is the n of one of the TokenHook's key names.
func hookKeyNumber(th *v1.TokenHook, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, hookKeyPrefix(th))
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n > 0
}

// rotationDue says whether a rotation should start now: the annotation asks
// for one it has not yet made, or the schedule says so. It also says when
// the schedule falls due (zero: no schedule).
func rotationDue(th *v1.TokenHook, now time.Time) (due bool, request string, at time.Time) {
	st := th.Status.HookAuth
	if st == nil || st.HookKey == nil || !usesPrivateKeyJWT(th) {
		return false, "", time.Time{}
	}
	if req := th.Annotations[v1.AnnotationRotateHookKey]; req != "" && req != st.RotationRequest {
		return true, req, time.Time{}
	}
	every := th.Spec.HookAuth.OAuth.PrivateKeyJWT.RotateEvery
	since := st.HookKey.RotatedAt
	if every == nil || every.Duration <= 0 || since == nil {
		return false, "", time.Time{}
	}
	at = since.Add(every.Duration)
	return !now.Before(at), "", at
}

// retirementsDue splits the retired keys into those whose grace is over and
// the wait until the next one's is.
func retirementsDue(st *v1.HookAuthStatus, now time.Time, grace time.Duration) (due []v1.RetiredHookKey, wait time.Duration) {
	if st == nil {
		return nil, 0
	}
	for _, k := range st.RetiredHookKeys {
		if w := k.RetiredAt.Add(grace).Sub(now); w > 0 {
			if wait == 0 || w < wait {
				wait = w
			}
			continue
		}
		due = append(due, k)
	}
	return due, wait
}

// channelKey decides what the channel names: the next key once the app has
// it, else the current one once the app has it, or while the channel names
// it already, or when no one can tell for a first key (Okta's own call
// through the hook then tells: provenByOkta).
func channelKey(st *v1.HookAuthStatus, unverifiable bool, inUse string) string {
	switch {
	case st == nil || st.HookKey == nil:
		return ""
	case st.NextHookKey != nil && st.NextHookKey.Registered:
		return st.NextHookKey.ID
	case st.HookKey.Registered || st.HookKey.ID == inUse || (unverifiable && st.HookKey.RotatedAt == nil):
		return st.HookKey.ID
	}
	return ""
}

// provenByOkta marks the current key registered once Okta's call through
// the hook, signed with it, reached the hook server: the app's JWKS has it,
// whether or not the operator may read that JWKS.
func provenByOkta(th *v1.TokenHook, hook *okta.InlineHook) {
	st := th.Status.HookAuth
	if !usesPrivateKeyJWT(th) || st == nil || st.HookKey == nil || st.HookKey.Registered || !isTrue(th, v1.ConditionHookReachable) {
		return
	}
	// Okta's call came through the channel's app: the spec's, unless the
	// spec has moved to another client since.
	if channelKeyOf(hook) == st.HookKey.ID && hook.OAuth.ClientID == th.Spec.HookAuth.OAuth.ClientID {
		st.HookKey.Registered, st.HookKey.RegisteredIn = true, hookKeyApp(th)
	}
}

// hookKeyInputs fingerprints what the hook key step depends on beyond the
// spec and status, for oktaInputs: the annotations and which timers ran out.
func hookKeyInputs(th *v1.TokenHook, now time.Time, grace time.Duration) string {
	st := th.Status.HookAuth
	if st == nil && !usesPrivateKeyJWT(th) {
		return ""
	}
	b, _ := json.Marshal(st)
	rotate, _, _ := rotationDue(th, now)
	due, _ := retirementsDue(st, now, grace)
	return fmt.Sprint(string(b), th.Annotations[v1.AnnotationRotateHookKey], th.Annotations[v1.AnnotationHookKeyRegistered], rotate, len(due))
}

// publicJWK is a hook key's public key as the app's JWKS holds it: Okta
// signs the assertions with RS256.
type publicJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func encodePublicJWK(pk *okta.PublicKey) string {
	b, _ := json.Marshal(publicJWK{Kty: "RSA", Kid: pk.KeyID, Use: "sig", Alg: "RS256", N: pk.N, E: pk.E})
	return string(b)
}

func decodePublicJWK(s string) (okta.PublicKey, error) {
	var j publicJWK
	if err := json.Unmarshal([]byte(s), &j); err != nil || j.N == "" || j.E == "" {
		return okta.PublicKey{}, errors.New("status.hookAuth holds no public JWK for the key")
	}
	return okta.PublicKey{KeyID: j.Kid, Type: j.Kty, Algorithm: j.Alg, Use: j.Use, N: j.N, E: j.E}, nil
}

// prepareHookKeys makes sure the hook keys the channel needs exist and are
// registered as far as they can be, and decides what the channel names. hook
// is Okta's hook (nil before it is created).
func (r *TokenHookReconciler) prepareHookKeys(ctx context.Context, th *v1.TokenHook, c okta.Client, hook *okta.InlineHook) (hookKeyGoal, error) {
	var goal hookKeyGoal
	if !usesPrivateKeyJWT(th) {
		return goal, nil
	}
	now := r.Clock.Now()
	if th.Status.HookAuth == nil {
		th.Status.HookAuth = &v1.HookAuthStatus{}
	}
	st := th.Status.HookAuth
	inUse := channelKeyOf(hook)
	if st.HookKey == nil {
		k, err := r.adoptOrCreateHookKey(ctx, th, c, inUse)
		if isHookKeyLimit(err) {
			return goal, r.failed(th, "create hook key", &specError{reason: v1.ReasonHookKeyLimitReached, msg: fmt.Sprintf(
				"create hook key %s: the Okta org has reached its cap of hook keys (Okta allows %d per org); delete unused ones (Workflow > Key Management) or use another org: %v",
				hookKeyName(th, 1), oktaHookKeyCap, err)})
		}
		if err != nil {
			return goal, err
		}
		// A first key answers any rotation request made so far: a
		// TokenHook applied with the annotation does not rotate at once.
		st.HookKey, st.RotationRequest = k, th.Annotations[v1.AnnotationRotateHookKey]
	}
	if st.NextHookKey == nil {
		due, request, at := rotationDue(th, now)
		if !at.IsZero() && !due {
			goal.requeueIn = at.Sub(now)
		}
		if due {
			k, err := r.findOrCreateHookKey(ctx, th, c, nextKeyNumber(th, st))
			switch {
			case isHookKeyLimit(err):
				goal.rotationFailed = fmt.Sprintf("rotating it failed: the Okta org has reached its cap of hook keys (Okta allows %d); delete unused ones (Workflow > Key Management): %v", oktaHookKeyCap, err)
				r.event(th, corev1.EventTypeWarning, v1.ReasonHookKeyLimitReached, "RotateHookKey", "%s", goal.rotationFailed)
			case err != nil:
				return goal, r.failed(th, "create the next hook key", err)
			default:
				st.NextHookKey = k
				why := "scheduled (spec.hookAuth.oauth.privateKeyJWT.rotateEvery)"
				if request != "" {
					st.RotationRequest = request
					why = "requested (annotation " + v1.AnnotationRotateHookKey + ")"
				}
				logf.FromContext(ctx).Info("Rotating the hook key", "current", st.HookKey.ID, "next", k.ID, "why", why)
			}
		}
	}
	for _, k := range []*v1.HookKeyStatus{st.HookKey, st.NextHookKey} {
		if err := r.forgetStaleRegistration(ctx, th, c, k, inUse); err != nil {
			return goal, err
		}
		if k == nil || k.Registered {
			continue
		}
		unverifiable, err := r.registerHookKey(ctx, th, c, k)
		if err != nil {
			return goal, err
		}
		goal.unverifiable = goal.unverifiable || unverifiable
		// Unverifiable, the admin's annotation brings the TokenHook back.
		if !k.Registered && !unverifiable && !registersInApp(th) && (goal.requeueIn == 0 || goal.requeueIn > pollForAdmin) {
			goal.requeueIn = pollForAdmin
		}
	}
	goal.channelKeyID = channelKey(st, goal.unverifiable, inUse)
	return goal, nil
}

// nextKeyNumber is the number of a rotation's new key: past every key in
// status, retired ones included, so that the find by name before the create
// never finds a key that is on its way out.
func nextKeyNumber(th *v1.TokenHook, st *v1.HookAuthStatus) int {
	names := []string{st.HookKey.Name}
	for _, k := range st.RetiredHookKeys {
		names = append(names, k.Name)
	}
	highest := 0
	for _, name := range names {
		if n, ok := hookKeyNumber(th, name); ok && n > highest {
			highest = n
		}
	}
	return highest + 1
}

func channelKeyOf(h *okta.InlineHook) string {
	if h == nil || h.OAuth == nil || h.OAuth.AuthType != okta.AuthTypePrivateKeyJWT {
		return ""
	}
	return h.OAuth.HookKeyID
}

// adoptOrCreateHookKey finds the current key when status has none: the key
// Okta's channel uses, else the newest of this TokenHook's keys (made before
// a crash lost status), else a new key. Others of its keys are retired.
func (r *TokenHookReconciler) adoptOrCreateHookKey(ctx context.Context, th *v1.TokenHook, c okta.Client, inUse string) (*v1.HookKeyStatus, error) {
	keys, err := c.ListHookKeys(ctx)
	if err != nil {
		return nil, r.failed(th, "list hook keys", err)
	}
	var pick *okta.HookKey
	best := 0
	for _, k := range keys {
		n, ours := hookKeyNumber(th, k.Name)
		switch {
		case !ours:
		case k.ID == inUse:
			pick, best = k, 1<<30
		case n > best:
			pick, best = k, n
		}
	}
	if pick == nil {
		return r.findOrCreateHookKey(ctx, th, c, 1)
	}
	now := metav1.NewTime(r.Clock.Now())
	for _, k := range keys {
		if _, ours := hookKeyNumber(th, k.Name); ours && k.ID != pick.ID {
			th.Status.HookAuth.RetiredHookKeys = append(th.Status.HookAuth.RetiredHookKeys, v1.RetiredHookKey{ID: k.ID, KeyID: k.KeyID, Name: k.Name, RetiredAt: now})
		}
	}
	logf.FromContext(ctx).Info("Adopting the TokenHook's hook key found in Okta", "id", pick.ID)
	return r.hookKeyStatus(ctx, th, c, pick)
}

// findOrCreateHookKey returns the TokenHook's n-th key: found by name, else
// created.
func (r *TokenHookReconciler) findOrCreateHookKey(ctx context.Context, th *v1.TokenHook, c okta.Client, n int) (*v1.HookKeyStatus, error) {
	name := hookKeyName(th, n)
	k, err := c.FindHookKeyByName(ctx, name)
	switch {
	case err == nil:
		return r.hookKeyStatus(ctx, th, c, k)
	case !errors.Is(err, okta.ErrNotFound):
		return nil, r.failed(th, "find hook key", err)
	}
	k, err = c.CreateHookKey(ctx, name)
	if err != nil {
		if isHookKeyLimit(err) {
			return nil, err // the caller says what it means
		}
		return nil, r.failed(th, "create hook key", err)
	}
	r.event(th, corev1.EventTypeNormal, "CreatedHookKey", "Create", "Created Okta hook key %s (kid %s)", k.ID, k.KeyID)
	return r.hookKeyStatus(ctx, th, c, k)
}

// hookKeyStatus describes k, with its public key.
func (r *TokenHookReconciler) hookKeyStatus(ctx context.Context, th *v1.TokenHook, c okta.Client, k *okta.HookKey) (*v1.HookKeyStatus, error) {
	pk := k.PublicKey
	if pk == nil {
		var err error
		if pk, err = c.GetPublicHookKey(ctx, k.KeyID); err != nil {
			return nil, r.failed(th, "get the hook key's public key", err)
		}
	}
	now := metav1.NewTime(r.Clock.Now())
	return &v1.HookKeyStatus{ID: k.ID, KeyID: k.KeyID, Name: k.Name, PublicJWK: encodePublicJWK(pk), Created: &now}, nil
}

// forgetStaleRegistration makes k unregistered when it is registered in
// another app than the spec's (the spec's clientID or appID changed) and
// Okta's channel does not sign with it: it is then registered in the spec's
// app like a new key, and a JWKS entry the operator added to the old app is
// removed first. A key the channel signs with keeps its registration: the
// channel leaves the old app by way of the header secret (see hookauth.go).
func (r *TokenHookReconciler) forgetStaleRegistration(ctx context.Context, th *v1.TokenHook, c okta.Client, k *v1.HookKeyStatus, inUse string) error {
	app := hookKeyApp(th)
	switch {
	case k == nil || !k.Registered:
		return nil
	case k.RegisteredIn == "":
		// Registered before registeredIn was kept: in the app it was added
		// to, else the spec's.
		k.RegisteredIn = cmp.Or(k.AppID, app)
		if k.RegisteredIn == app || k.ID == inUse {
			return nil
		}
	case k.RegisteredIn == app || k.ID == inUse:
		return nil
	}
	if k.AppJWKID != "" && k.AppID != "" && k.AppID != app {
		if err := r.removeAppJWK(ctx, th, c, k.AppID, k.AppJWKID, k.KeyID, false); err != nil {
			return r.failed(th, "remove the hook key from the JWKS of the app the spec left", err)
		}
		k.AppID, k.AppJWKID = "", ""
	}
	logf.FromContext(ctx).Info("The spec's app changed: registering the hook key in the new one", "key", k.ID, "from", k.RegisteredIn, "to", app)
	k.Registered, k.RegisteredIn = false, ""
	return nil
}

// registerHookKey sees that the app's JWKS holds k's public key: it looks,
// and with registerInApp adds it. It reports whether it could not look.
func (r *TokenHookReconciler) registerHookKey(ctx context.Context, th *v1.TokenHook, c okta.Client, k *v1.HookKeyStatus) (unverifiable bool, err error) {
	app := hookKeyApp(th)
	field := "spec.hookAuth.oauth.privateKeyJWT"
	if th.Annotations[v1.AnnotationHookKeyRegistered] == k.KeyID && !registersInApp(th) {
		k.Registered, k.RegisteredIn = true, app // the admin says so
		return false, nil
	}
	jwks, err := c.ListAppJWKs(ctx, app)
	switch {
	case errors.Is(err, okta.ErrNotFound):
		return false, r.failed(th, "read the app's JWKS", &specError{reason: v1.ReasonNotFound, msg: fmt.Sprintf(
			"%s: Okta has no app %s; set appID when the app's ID is not its client ID", field, app)})
	case isForbidden(err) && registersInApp(th):
		return false, r.failed(th, "register the hook key", &specError{reason: v1.ReasonOktaRejected, msg: fmt.Sprintf(
			"%s.registerInApp: Okta refused to show app %s's JWKS: the operator's Okta app needs scope okta.apps.manage (with a service app, add it to the credentials Secret's key %q too), or set registerInApp to false and add hook key %s yourself",
			field, app, credScopes, k.KeyID)})
	case isForbidden(err):
		return true, nil
	case err != nil:
		return false, r.failed(th, "read the app's JWKS", err)
	}
	if j := okta.AppJWKWithKeyID(jwks, k.KeyID); j != nil {
		if j.Status != okta.JWKActive {
			return false, r.failed(th, "register the hook key", &specError{reason: v1.ReasonHookKeyNotRegistered, msg: fmt.Sprintf(
				"app %s's JWKS holds hook key %s INACTIVE (entry %s): activate it in Okta", app, k.KeyID, j.ID)})
		}
		k.Registered, k.RegisteredIn = true, app
		if registersInApp(th) {
			k.AppID, k.AppJWKID = app, j.ID
		}
		return false, nil
	}
	if !registersInApp(th) {
		return false, nil // the admin's turn; the condition says what to add
	}
	pub, err := decodePublicJWK(k.PublicJWK)
	if err != nil {
		return false, err
	}
	added, err := c.AddAppJWK(ctx, app, pub)
	switch {
	case isForbidden(err):
		return false, r.failed(th, "register the hook key", &specError{reason: v1.ReasonOktaRejected, msg: fmt.Sprintf(
			"%s.registerInApp: Okta refused to add hook key %s to app %s's JWKS: the operator's Okta app needs scope okta.apps.manage (with a service app, add it to the credentials Secret's key %q too), or set registerInApp to false and add the key yourself",
			field, k.KeyID, app, credScopes)})
	case isHookKeyLimit(err):
		return false, r.failed(th, "register the hook key", &specError{reason: v1.ReasonHookKeyLimitReached, msg: fmt.Sprintf(
			"app %s's JWKS has as many keys as Okta allows (50): delete unused ones: %v", app, err)})
	case err != nil:
		return false, r.failed(th, "add the hook key to the app's JWKS", err)
	}
	k.Registered, k.RegisteredIn, k.AppID, k.AppJWKID = true, app, app, added.ID
	r.event(th, corev1.EventTypeNormal, "RegisteredHookKey", "Register", "Added hook key %s to the JWKS of Okta app %s (entry %s)", k.KeyID, app, added.ID)
	return false, nil
}

// settleHookKeys follows Okta's channel as it is now (hook): a rotation's
// next key that the channel names becomes the current one, keys the channel
// left are retired, and retired keys past their grace are deleted.
func (r *TokenHookReconciler) settleHookKeys(ctx context.Context, th *v1.TokenHook, c okta.Client, hook *okta.InlineHook, goal *hookKeyGoal) error {
	st := th.Status.HookAuth
	if st == nil {
		return nil
	}
	now := r.Clock.Now()
	inUse := channelKeyOf(hook)
	retire := func(k *v1.HookKeyStatus) {
		if k == nil {
			return
		}
		st.RetiredHookKeys = append(st.RetiredHookKeys, v1.RetiredHookKey{ID: k.ID, KeyID: k.KeyID, Name: k.Name, AppID: k.AppID, AppJWKID: k.AppJWKID,
			RetiredAt: metav1.NewTime(now)})
	}
	if next := st.NextHookKey; next != nil && inUse == next.ID {
		retire(st.HookKey)
		st.HookKey, st.NextHookKey = next, nil
		r.event(th, corev1.EventTypeNormal, "RotatedHookKey", "Rotate", "Okta's channel now signs with hook key %s (kid %s)", next.ID, next.KeyID)
	}
	if k := st.HookKey; k != nil && inUse == k.ID && k.RotatedAt == nil {
		t := metav1.NewTime(now)
		k.RotatedAt = &t
	}
	if !usesPrivateKeyJWT(th) && (st.HookKey == nil || inUse != st.HookKey.ID) && (st.NextHookKey == nil || inUse != st.NextHookKey.ID) {
		// Switched away from private_key_jwt, and Okta's channel has moved.
		retire(st.HookKey)
		retire(st.NextHookKey)
		st.HookKey, st.NextHookKey = nil, nil
	}
	due, wait := retirementsDue(st, now, r.RotationGrace)
	// With registerInApp, the JWKS entry of a key whose entry id a lost
	// status took along is found by kid.
	var jwks []*okta.AppJWK
	if registersInApp(th) && slices.ContainsFunc(due, func(k v1.RetiredHookKey) bool { return k.AppJWKID == "" }) {
		var err error
		if jwks, err = c.ListAppJWKs(ctx, hookKeyApp(th)); err != nil && !errors.Is(err, okta.ErrNotFound) {
			return r.failed(th, "read the app's JWKS", err)
		}
	}
	for _, k := range due {
		if k.ID == inUse {
			continue // named by the channel again (an edit in Okta): not ours to delete
		}
		if err := r.deleteHookKey(ctx, th, c, k, jwks); err != nil {
			return r.failed(th, "delete retired hook key "+k.ID, err)
		}
		st.RetiredHookKeys = slices.DeleteFunc(st.RetiredHookKeys, func(x v1.RetiredHookKey) bool { return x.ID == k.ID })
	}
	if wait > 0 && (goal.requeueIn == 0 || wait < goal.requeueIn) {
		goal.requeueIn = wait
	}
	if st.HookKey == nil && st.NextHookKey == nil && len(st.RetiredHookKeys) == 0 {
		th.Status.HookAuth = nil
	}
	return nil
}

// deleteHookKey removes the JWKS entry the operator added for k (found by
// kid in jwks, when given, if status lost its id), then the key itself.
// Anything already gone counts as done.
func (r *TokenHookReconciler) deleteHookKey(ctx context.Context, th *v1.TokenHook, c okta.Client, k v1.RetiredHookKey, jwks []*okta.AppJWK) error {
	app, entry := k.AppID, k.AppJWKID
	if entry == "" && jwks != nil {
		if j := okta.AppJWKWithKeyID(jwks, k.KeyID); j != nil {
			app, entry = hookKeyApp(th), j.ID
		}
	}
	if entry != "" && app != "" {
		if err := r.removeAppJWK(ctx, th, c, app, entry, k.KeyID, true); err != nil {
			return err
		}
	}
	if err := c.DeleteHookKey(ctx, k.ID); err != nil && !errors.Is(err, okta.ErrNotFound) {
		return fmt.Errorf("delete hook key %s: %w", k.ID, err)
	}
	r.event(th, corev1.EventTypeNormal, "DeletedHookKey", "Delete", "Deleted Okta hook key %s (kid %s)", k.ID, k.KeyID)
	return nil
}

// removeAppJWK deactivates and deletes the JWKS entry the operator added to
// app for the key kid; one already gone counts as done. keyGoes says that
// the hook key is deleted next.
func (r *TokenHookReconciler) removeAppJWK(ctx context.Context, th *v1.TokenHook, c okta.Client, app, entry, kid string, keyGoes bool) error {
	_, err := c.DeactivateAppJWK(ctx, app, entry)
	switch {
	case isLastActiveJWK(err) && keyGoes:
		// Okta keeps a private_key_jwt app's only active key. Its
		// private key goes with the hook key, so it verifies nothing.
		r.event(th, corev1.EventTypeNormal, "KeptLastAppJWK", "Delete",
			"Left hook key %s in the JWKS of Okta app %s: it is the app's only active key, which Okta keeps while the app uses private_key_jwt; its private key is deleted", kid, app)
	case isLastActiveJWK(err):
		r.event(th, corev1.EventTypeNormal, "KeptLastAppJWK", "Delete",
			"Left hook key %s in the JWKS of Okta app %s, which the spec no longer names: it is the app's only active key, which Okta keeps while the app uses private_key_jwt; remove it once the app has another", kid, app)
	case err != nil && !errors.Is(err, okta.ErrNotFound):
		return fmt.Errorf("deactivate JWK %s of app %s: %w", entry, app, err)
	default:
		if err := c.DeleteAppJWK(ctx, app, entry); err != nil && !errors.Is(err, okta.ErrNotFound) {
			return fmt.Errorf("delete JWK %s of app %s: %w", entry, app, err)
		}
		r.event(th, corev1.EventTypeNormal, "RemovedHookKeyFromApp", "Delete", "Removed hook key %s from the JWKS of Okta app %s", kid, app)
	}
	return nil
}

// cleanupHookKeys deletes every hook key of the TokenHook, with the JWKS
// entries the operator added: the finalizer's step after the hook (which
// used one) is gone.
func (r *TokenHookReconciler) cleanupHookKeys(ctx context.Context, th *v1.TokenHook, c okta.Client) error {
	st := th.Status.HookAuth
	if st == nil && !usesPrivateKeyJWT(th) {
		return nil
	}
	var all []v1.RetiredHookKey
	seen := map[string]bool{}
	add := func(k v1.RetiredHookKey) {
		if !seen[k.ID] {
			seen[k.ID] = true
			all = append(all, k)
		}
	}
	if st != nil {
		for _, k := range []*v1.HookKeyStatus{st.HookKey, st.NextHookKey} {
			if k != nil {
				add(v1.RetiredHookKey{ID: k.ID, KeyID: k.KeyID, Name: k.Name, AppID: k.AppID, AppJWKID: k.AppJWKID})
			}
		}
		for _, k := range st.RetiredHookKeys {
			add(k)
		}
	}
	keys, err := c.ListHookKeys(ctx)
	if err != nil {
		return fmt.Errorf("list hook keys: %w", err)
	}
	for _, k := range keys {
		if _, ours := hookKeyNumber(th, k.Name); ours {
			add(v1.RetiredHookKey{ID: k.ID, KeyID: k.KeyID, Name: k.Name})
		}
	}
	// With registerInApp, entries of keys whose entry status lost are found
	// by kid.
	var jwks []*okta.AppJWK
	if registersInApp(th) && slices.ContainsFunc(all, func(k v1.RetiredHookKey) bool { return k.AppJWKID == "" }) {
		if jwks, err = c.ListAppJWKs(ctx, hookKeyApp(th)); err != nil && !errors.Is(err, okta.ErrNotFound) {
			return fmt.Errorf("list the JWKS of app %s: %w", hookKeyApp(th), err)
		}
	}
	for _, k := range all {
		if err := r.deleteHookKey(ctx, th, c, k, jwks); err != nil {
			return err
		}
	}
	th.Status.HookAuth = nil
	return nil
}

// errConditionSet: a problem was reported in a condition and is not retried
// (failed); the caller stops where it is, without an error for backoff.
var errConditionSet = errors.New("reported in a condition")

// failed reports err in InlineHookRegistered as oktaFailed does; what
// oktaFailed does not retry comes back as errConditionSet, so the caller
// stops.
func (r *TokenHookReconciler) failed(th *v1.TokenHook, action string, err error) error {
	if e := r.oktaFailed(th, v1.ConditionInlineHookRegistered, action, err); e != nil {
		return e
	}
	return errConditionSet
}

// oktaHookKeyCap is the number of hook keys Okta allows per org.
const oktaHookKeyCap = 50

// isHookKeyLimit recognises Okta's refusal of a hook key (or an app's JWKS
// key) past the cap.
func isHookKeyLimit(err error) bool {
	var ae *okta.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest {
		return false
	}
	text := strings.ToLower(ae.ErrorSummary + " " + strings.Join(ae.ErrorCauses, " "))
	return strings.Contains(text, "maximum number of keys")
}

// isLastActiveJWK recognises Okta's refusal to deactivate the only active
// key of a private_key_jwt app.
func isLastActiveJWK(err error) bool {
	var ae *okta.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadRequest {
		return false
	}
	return strings.Contains(strings.ToLower(ae.ErrorSummary+" "+strings.Join(ae.ErrorCauses, " ")), "only active json web key")
}

func isForbidden(err error) bool {
	var ae *okta.APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden
}

// hookKeyCondition says what InlineHookRegistered reports of the hook keys of
// an active hook; ok false when there is nothing to say beyond the default.
func hookKeyCondition(th *v1.TokenHook, hookID string, goal hookKeyGoal) (reason, msg string, ok bool) {
	st := th.Status.HookAuth
	if !usesPrivateKeyJWT(th) || st == nil || st.HookKey == nil {
		return "", "", false
	}
	app := hookKeyApp(th)
	cur := st.HookKey
	switch next := st.NextHookKey; {
	case goal.rotationFailed != "":
		return v1.ReasonHookKeyLimitReached, fmt.Sprintf("inline hook %s is active, Okta signs with hook key %s; %s", hookID, cur.KeyID, goal.rotationFailed), true
	case next != nil && !next.Registered && goal.unverifiable:
		return v1.ReasonRotatingHookKey, fmt.Sprintf(
			"inline hook %s is active, Okta signs with hook key %s; new hook key %s is to be added to the JWKS of app %s (status.hookAuth.nextHookKey.publicJWK). The operator cannot read that JWKS (its Okta app lacks scope okta.apps.read): once the key is there, annotate this TokenHook %s=%s and Okta's channel moves to it",
			hookID, cur.KeyID, next.KeyID, app, v1.AnnotationHookKeyRegistered, next.KeyID), true
	case next != nil && !next.Registered:
		return v1.ReasonRotatingHookKey, fmt.Sprintf(
			"inline hook %s is active, Okta signs with hook key %s; add new hook key %s to the JWKS of app %s (status.hookAuth.nextHookKey.publicJWK): Okta's channel moves to it once the app has it",
			hookID, cur.KeyID, next.KeyID, app), true
	case next != nil:
		return v1.ReasonRotatingHookKey, fmt.Sprintf("inline hook %s is active; Okta's channel moves from hook key %s to %s", hookID, cur.KeyID, next.KeyID), true
	case len(st.RetiredHookKeys) > 0:
		return v1.ReasonRotatingHookKey, fmt.Sprintf("inline hook %s is active, Okta signs with hook key %s; %d retired hook key(s) are deleted once the rotation grace period is over",
			hookID, cur.KeyID, len(st.RetiredHookKeys)), true
	case !cur.Registered && goal.unverifiable:
		return v1.ReasonRegistered, fmt.Sprintf(
			"inline hook %s is active, Okta signs with hook key %s; the operator cannot read app %s's JWKS (its Okta app lacks scope okta.apps.read), so Okta's call through the hook (HookReachable) shows whether the app has the key",
			hookID, cur.KeyID, app), true
	}
	return v1.ReasonRegistered, fmt.Sprintf("inline hook %s is active and up to date; Okta signs with hook key %s", hookID, cur.KeyID), true
}

// hookKeyWaitMessage is InlineHookRegistered while no key the channel may
// name is in the app's JWKS.
func hookKeyWaitMessage(th *v1.TokenHook) string {
	st := th.Status.HookAuth
	kid := "?"
	if st != nil && st.HookKey != nil {
		kid = st.HookKey.KeyID
	}
	return fmt.Sprintf(
		"add hook key %s to the JWKS of Okta app %s (its public JWK is status.hookAuth.hookKey.publicJWK), or set spec.hookAuth.oauth.privateKeyJWT.registerInApp to let the operator do it; Okta's channel uses the key once the app has it",
		kid, hookKeyApp(th))
}

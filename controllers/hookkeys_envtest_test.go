package controllers

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

// jwtCaller is a service app that authenticates with private_key_jwt and
// has no key in its JWKS yet: client credentials for the custom scope.
func (f *fixture) jwtCaller() string {
	f.t.Helper()
	return f.jwtCallerNamed("")
}

// jwtCallerNamed is jwtCaller's app, or another one for another suffix.
func (f *fixture) jwtCallerNamed(suffix string) string {
	f.t.Helper()
	id := "0oajwt" + suffix + strings.ReplaceAll(f.ns, "-", "")
	f.addServiceApp("JWT hook caller "+suffix+f.ns, oktasim.ClientSpec{ClientID: id,
		GrantTypes: []string{oktasim.GrantClientCredentials}, TokenEndpointAuthMethod: oktasim.ClientAuthPrivateKeyJWT})
	return id
}

func pkjwtSpec(clientID string, register bool) v1.HookAuth {
	return v1.HookAuth{Type: v1.HookAuthOAuth, OAuth: &v1.HookOAuth{
		ClientID: clientID, Scope: hookScope, Audience: "api://default",
		PrivateKeyJWT: &v1.PrivateKeyJWT{RegisterInApp: register},
	}}
}

// keysOf lists the simulator's hook keys of a TokenHook (by name).
func keysOf(th *v1.TokenHook) []oktasim.HookKey {
	var out []oktasim.HookKey
	for _, k := range sim.HookKeys() {
		if strings.HasPrefix(k.Name, hookKeyPrefix(th)) {
			out = append(out, k)
		}
	}
	return out
}

// kids lists the kids of an app's JWKS, with their status.
func kids(t *testing.T, app string) []string {
	t.Helper()
	out, err := jwksOf(app)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func jwksOf(app string) ([]string, error) {
	keys, err := sim.AppJWKs(app)
	var out []string
	for _, k := range keys {
		out = append(out, k.Key.KeyID+"/"+k.Status)
	}
	return out, err
}

// waitKeySettled waits until Okta's channel signs with the status's current
// key, no rotation or retired key is left, and the TokenHook is Ready.
func (f *fixture) waitKeySettled(name string) *v1.TokenHook {
	f.t.Helper()
	var th *v1.TokenHook
	eventually(f.t, waitFor, func() error {
		th = f.get(name)
		st := th.Status.HookAuth
		switch {
		case st == nil || st.HookKey == nil:
			return errors.New("no hook key in status")
		case st.NextHookKey != nil || len(st.RetiredHookKeys) > 0:
			return fmt.Errorf("rotation under way: next %v, %d retired", st.NextHookKey != nil, len(st.RetiredHookKeys))
		case th.Status.InlineHookID == "":
			return errors.New("no inline hook yet")
		}
		h, err := sim.Hook(th.Status.InlineHookID)
		if err != nil {
			return err
		}
		if h.Channel.OAuth == nil || h.Channel.OAuth.HookKeyID != st.HookKey.ID {
			return fmt.Errorf("Okta's channel %+v does not name hook key %s", h.Channel.OAuth, st.HookKey.ID)
		}
		if n := len(keysOf(th)); n != 1 {
			return fmt.Errorf("%d hook keys in Okta, want 1", n)
		}
		if !isTrue(th, v1.ConditionReady) || th.Status.ObservedGeneration != th.Generation {
			return fmt.Errorf("not Ready: %s", conditions(th))
		}
		return nil
	})
	return th
}

// A TokenHook created with privateKeyJWT and registerInApp: the operator has
// Okta make the hook key, adds its public key to the app's JWKS, and the
// channel signs with it, so a patient's token carries the claim; deleting
// the TokenHook deletes the key and the JWKS entry.
func TestPrivateKeyJWTFromCreation(t *testing.T) {
	f := newFixture(t)
	m := f.newMinter()
	app := f.jwtCaller()
	th := m.tokenHook(f, "jwt-new")
	th.Spec.HookAuth = pkjwtSpec(app, true)
	f.create(th)
	got := f.waitKeySettled("jwt-new")
	st := got.Status.HookAuth
	key := st.HookKey
	if !key.Registered || key.AppJWKID == "" || key.AppID != app || key.RotatedAt == nil || !strings.Contains(key.PublicJWK, `"kid":"`+key.KeyID+`"`) {
		t.Errorf("status.hookAuth.hookKey %+v", key)
	}
	if got := kids(t, app); !slices.Equal(got, []string{key.KeyID + "/" + oktasim.JWKActive}) {
		t.Errorf("the app's JWKS %v, want the hook key, active", got)
	}
	h, err := sim.Hook(got.Status.InlineHookID)
	if err != nil {
		t.Fatal(err)
	}
	if o := h.Channel.OAuth; o.AuthType != oktasim.OAuthPrivateKeyJWT || o.ClientID != app || o.ClientSecret != "" {
		t.Errorf("Okta's channel %+v", o)
	}
	if m := f.podMode("jwt-new"); m != podAuthOAuth {
		t.Errorf("pods accept %s, want oauth", m)
	}
	// A patient's login: Okta gets an access token as the app with an
	// assertion signed by the hook key, and the hook adds the claim.
	sim.ForgetHookTokens()
	if id, err := m.mint(context.Background()); err != nil || id != "P-001" {
		t.Fatalf("mint = %q, %v; want the patient's claim", id, err)
	}
	calls := sim.HookCalls()
	var last oktasim.HookCall
	for _, c := range calls {
		if c.HookID == got.Status.InlineHookID {
			last = c
		}
	}
	if last.Outcome != oktasim.HookApplied || !last.TokenFetched {
		t.Errorf("the hook call %+v, want applied with a token fetched by private_key_jwt", last)
	}
	for _, c := range got.Status.Conditions {
		if strings.Contains(c.Message, "PRIVATE KEY") {
			t.Errorf("condition %s shows a private key", c.Type)
		}
	}

	if err := k8s.Delete(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	f.waitGone("jwt-new")
	if n := len(keysOf(got)); n != 0 {
		t.Errorf("%d hook keys left in Okta after the delete", n)
	}
	// Okta keeps the only active key of a private_key_jwt app: the entry
	// stays, while the hook key (its private key) is gone.
	if got := kids(t, app); !slices.Equal(got, []string{key.KeyID + "/" + oktasim.JWKActive}) {
		t.Errorf("the app's JWKS after the delete: %v, want the app's last key kept", got)
	}
}

// A rotation on request under steady logins: the new key reaches the app's
// JWKS before Okta's channel names it, and the old key (with its JWKS
// entry) goes only after the grace. No hook call fails.
func TestPrivateKeyJWTRotationFailsNoCall(t *testing.T) {
	f := newFixture(t)
	m := f.newMinter()
	app := f.jwtCaller()
	th := m.tokenHook(f, "jwt-rotate")
	th.Spec.HookAuth = pkjwtSpec(app, true)
	f.create(th)
	before := f.waitKeySettled("jwt-rotate")
	old := before.Status.HookAuth.HookKey
	hookID := before.Status.InlineHookID
	stop := m.mintSteadily(t)
	time.Sleep(300 * time.Millisecond)

	// The app's JWKS and Okta's channel, sampled while the rotation runs:
	// the channel never names a key the app lacks.
	sampling := make(chan struct{})
	var bad []string
	go func() {
		defer close(sampling)
		deadline := time.Now().Add(waitFor)
		for time.Now().Before(deadline) {
			h, err := sim.Hook(hookID)
			if err == nil && h.Channel.OAuth != nil {
				keyID := h.Channel.OAuth.HookKeyID
				k, kerr := sim.HookKey(keyID)
				active, _ := jwksOf(app)
				if kerr != nil || !slices.Contains(active, k.KeyID+"/"+oktasim.JWKActive) {
					bad = append(bad, fmt.Sprintf("channel names %s, app has %v", keyID, active))
				}
			}
			th := &v1.TokenHook{}
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "jwt-rotate"}, th); err != nil {
				continue
			}
			if st := th.Status.HookAuth; st != nil && st.HookKey != nil && st.HookKey.ID != old.ID && st.NextHookKey == nil && len(st.RetiredHookKeys) == 0 {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	start := time.Now()
	f.update("jwt-rotate", func(th *v1.TokenHook) {
		th.Annotations = map[string]string{v1.AnnotationRotateHookKey: "2026-12-04T12:00:00Z"}
	})
	<-sampling
	after := f.waitKeySettled("jwt-rotate")
	t.Logf("rotation from the request to the old key's deletion: %v (grace %v)", time.Since(start).Round(10*time.Millisecond), rotationGrace)
	time.Sleep(500 * time.Millisecond)
	minted, failures := stop()

	st := after.Status.HookAuth
	if st.HookKey.ID == old.ID || st.RotationRequest != "2026-12-04T12:00:00Z" || st.HookKey.Name != hookKeyName(after, 2) {
		t.Errorf("after the rotation: %+v", st)
	}
	if _, err := sim.HookKey(old.ID); err == nil {
		t.Errorf("the old hook key %s is still in Okta", old.ID)
	}
	if got := kids(t, app); !slices.Equal(got, []string{st.HookKey.KeyID + "/" + oktasim.JWKActive}) {
		t.Errorf("the app's JWKS %v, want the new key only", got)
	}
	if len(bad) > 0 {
		t.Errorf("Okta's channel named a key the app did not have: %s", bad[0])
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d token requests failed or lacked the claim, e.g. %s", len(failures), minted+len(failures), failures[0])
	}
	if hf := hookFailures(hookID); len(hf) > 0 {
		t.Errorf("%d hook calls added no claim, e.g. %s", len(hf), hf[0])
	}
	if minted < 20 {
		t.Errorf("only %d tokens minted: the test proves little", minted)
	}
	// The request is made once.
	time.Sleep(2 * driftInterval)
	if again := f.get("jwt-rotate").Status.HookAuth.HookKey; again.ID != st.HookKey.ID {
		t.Errorf("the handled request rotated again: %s", again.ID)
	}
}

// Without registerInApp, an admin adds the key: until then status shows the
// kid and the public JWK, InlineHookRegistered says what to add where, and
// no hook is made; once the app's JWKS has the key, the TokenHook is Ready.
func TestPrivateKeyJWTAdminRegistersTheKey(t *testing.T) {
	f := newFixture(t)
	m := f.newMinter()
	app := f.jwtCaller()
	th := m.tokenHook(f, "jwt-admin")
	th.Spec.HookAuth = pkjwtSpec(app, false)
	f.create(th)
	waiting := f.waitCondition("jwt-admin", v1.ConditionInlineHookRegistered, metav1.ConditionFalse, v1.ReasonHookKeyNotRegistered)
	st := waiting.Status.HookAuth
	if st == nil || st.HookKey == nil || st.HookKey.Registered {
		t.Fatalf("status.hookAuth %+v", st)
	}
	c := meta.FindStatusCondition(waiting.Status.Conditions, v1.ConditionInlineHookRegistered)
	if !strings.Contains(c.Message, st.HookKey.KeyID) || !strings.Contains(c.Message, app) || !strings.Contains(c.Message, "status.hookAuth.hookKey.publicJWK") {
		t.Errorf("condition %q does not say which key to add to which app", c.Message)
	}
	if waiting.Status.InlineHookID != "" || len(kids(t, app)) != 0 {
		t.Errorf("a hook was made, or the operator touched the app's JWKS")
	}

	// The admin pastes the public JWK from status into the app's JWKS.
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON([]byte(st.HookKey.PublicJWK)); err != nil || jwk.KeyID != st.HookKey.KeyID || jwk.Algorithm != "RS256" {
		t.Fatalf("status.hookAuth.hookKey.publicJWK %s: %v", st.HookKey.PublicJWK, err)
	}
	if _, err := sim.AddAppJWK(app, jwk); err != nil {
		t.Fatal(err)
	}
	ready := f.waitKeySettled("jwt-admin")
	if k := ready.Status.HookAuth.HookKey; !k.Registered || k.AppJWKID != "" {
		t.Errorf("hook key %+v: the admin's JWKS entry is not the operator's to remove", k)
	}
	sim.ForgetHookTokens()
	if id, err := m.mint(context.Background()); err != nil || id != "P-001" {
		t.Errorf("mint = %q, %v; want the patient's claim", id, err)
	}
}

// Header auth to privateKeyJWT and back under steady logins: the pods accept
// both ways while Okta's channel moves, the channel names the hook key only
// once the app has it, and on the way back the key is deleted once the
// channel left it. No hook call fails.
func TestPrivateKeyJWTSwitchFailsNoCall(t *testing.T) {
	f := newFixture(t)
	m := f.newMinter()
	app := f.jwtCaller()
	f.create(m.tokenHook(f, "jwt-switch"))
	hookID := f.waitReady("jwt-switch").Status.InlineHookID
	stop := m.mintSteadily(t)

	f.update("jwt-switch", func(th *v1.TokenHook) { th.Spec.HookAuth = pkjwtSpec(app, true) })
	if modes := f.waitChannel("jwt-switch", hookID, channelOAuth); !slices.Contains(modes, podAuthBoth) {
		t.Errorf("pod auth modes on the way to privateKeyJWT %v never accepted both", modes)
	}
	th := f.waitKeySettled("jwt-switch")
	key := th.Status.HookAuth.HookKey

	f.update("jwt-switch", func(th *v1.TokenHook) { th.Spec.HookAuth = v1.HookAuth{Type: v1.HookAuthHeader} })
	if modes := f.waitChannel("jwt-switch", hookID, channelHTTP); !slices.Contains(modes, podAuthBoth) {
		t.Errorf("pod auth modes on the way back %v never accepted both", modes)
	}
	eventually(t, waitFor, func() error {
		th := f.get("jwt-switch")
		if n := len(keysOf(th)); n != 0 || th.Status.HookAuth != nil {
			return fmt.Errorf("%d hook keys left in Okta, status.hookAuth %+v", n, th.Status.HookAuth)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	minted, failures := stop()
	if len(failures) > 0 {
		t.Errorf("%d of %d token requests failed or lacked the claim, e.g. %s", len(failures), minted+len(failures), failures[0])
	}
	if hf := hookFailures(hookID); len(hf) > 0 {
		t.Errorf("%d hook calls added no claim, e.g. %s", len(hf), hf[0])
	}
	if minted < 20 {
		t.Errorf("only %d tokens minted: the test proves little", minted)
	}
	// The app's only key stays (Okta keeps it); it was the operator's.
	if got := kids(t, app); !slices.Equal(got, []string{key.KeyID + "/" + oktasim.JWKActive}) {
		t.Errorf("the app's JWKS %v", got)
	}
}

// The operator's own Okta app lacks okta.apps.read, so it cannot see the
// app's JWKS (403): a first key is used at once and Okta's call through the
// hook shows whether the admin added it; a rotation's new key waits for the
// admin's annotation. Nothing loops on the 403.
func TestPrivateKeyJWTWithoutAppsRead(t *testing.T) {
	f := newFixture(t)
	m := f.newMinter()
	app := f.jwtCaller()
	// The operator authenticates as a service app with the default scopes.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	operatorApp := "0oaop" + strings.ReplaceAll(f.ns, "-", "")
	if err := sim.AddServiceApp(oktasim.ServiceApp{ClientID: operatorApp, PublicKey: &key.PublicKey, Scopes: okta.DefaultScopes}); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "okta-app", Namespace: f.ns}, StringData: map[string]string{
		"clientID": operatorApp, "privateKey": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}})
	th := m.tokenHook(f, "jwt-noread")
	th.Spec.Okta.CredentialsSecretRef.Name = "okta-app"
	th.Spec.HookAuth = pkjwtSpec(app, false)
	f.create(th)

	// Okta's call fails until the admin adds the key: the route check says so.
	unreachable := f.waitCondition("jwt-noread", v1.ConditionHookReachable, metav1.ConditionFalse, v1.ReasonUnreachable)
	if c := meta.FindStatusCondition(unreachable.Status.Conditions, v1.ConditionInlineHookRegistered); c == nil || !strings.Contains(c.Message, scopeAppsRead) {
		t.Errorf("InlineHookRegistered %+v does not say the operator cannot read the JWKS", c)
	}
	if f.rule().Token.InlineHookID != "" {
		t.Error("the rule calls a hook whose calls fail")
	}
	addKey := func(k *v1.HookKeyStatus) {
		t.Helper()
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON([]byte(k.PublicJWK)); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.AddAppJWK(app, jwk); err != nil {
			t.Fatal(err)
		}
	}
	first := unreachable.Status.HookAuth.HookKey
	addKey(first)
	// The admin's word has the operator look again at once, not after the
	// failed route check's backoff.
	start := time.Now()
	f.update("jwt-noread", func(th *v1.TokenHook) {
		th.Annotations = map[string]string{v1.AnnotationHookKeyRegistered: first.KeyID}
	})
	f.waitKeySettled("jwt-noread")
	t.Logf("Ready %v after the admin's annotation", time.Since(start).Round(10*time.Millisecond))

	// A rotation: the new key waits for the admin's word.
	f.update("jwt-noread", func(th *v1.TokenHook) { th.Annotations[v1.AnnotationRotateHookKey] = "1" })
	rotating := f.waitCondition("jwt-noread", v1.ConditionInlineHookRegistered, metav1.ConditionTrue, v1.ReasonRotatingHookKey)
	next := rotating.Status.HookAuth.NextHookKey
	if next == nil || !strings.Contains(meta.FindStatusCondition(rotating.Status.Conditions, v1.ConditionInlineHookRegistered).Message,
		v1.AnnotationHookKeyRegistered+"="+next.KeyID) {
		t.Fatalf("rotation %+v: the condition does not ask for the annotation", rotating.Status.HookAuth)
	}
	time.Sleep(driftInterval)
	if h, _ := sim.Hook(rotating.Status.InlineHookID); h.Channel.OAuth.HookKeyID != first.ID {
		t.Fatal("Okta's channel moved to a key no one said the app has")
	}
	addKey(next)
	f.update("jwt-noread", func(th *v1.TokenHook) { th.Annotations[v1.AnnotationHookKeyRegistered] = next.KeyID })
	if got := f.waitKeySettled("jwt-noread").Status.HookAuth.HookKey; got.ID != next.ID {
		t.Errorf("after the admin's word the channel signs with %s, want %s", got.ID, next.ID)
	}
	sim.ForgetHookTokens()
	if id, err := m.mint(context.Background()); err != nil || id != "P-001" {
		t.Errorf("mint = %q, %v; want the patient's claim", id, err)
	}
}

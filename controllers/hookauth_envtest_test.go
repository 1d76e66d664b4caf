package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

const hookScope = "tokenhook.call"

// hookCaller is the service app as which Okta gets the hook's access
// tokens: client credentials with client_secret_post, for the custom scope.
func (f *fixture) hookCaller(secret string) string {
	f.t.Helper()
	id := "0oacaller" + strings.ReplaceAll(f.ns, "-", "")
	f.addServiceApp("Hook caller "+f.ns, oktasim.ClientSpec{ClientID: id, ClientSecret: secret,
		GrantTypes: []string{oktasim.GrantClientCredentials}, TokenEndpointAuthMethod: oktasim.ClientAuthSecretPost})
	return id
}

// addServiceApp adds the app, and an access policy of its own whose rule
// grants it the custom scope by client credentials.
func (f *fixture) addServiceApp(policyName string, app oktasim.ClientSpec) {
	f.t.Helper()
	if err := sim.AddScope("default", hookScope); err != nil && !strings.Contains(err.Error(), "exists") {
		f.t.Fatal(err)
	}
	if err := sim.AddClient(app); err != nil {
		f.t.Fatal(err)
	}
	p, err := sim.AddPolicy("default", oktasim.PolicySpec{Name: policyName, Priority: 1, Clients: []string{app.ClientID}})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := sim.AddRule("default", p.ID, oktasim.RuleSpec{Name: "Client credentials", Conditions: oktasim.RuleConditions{
		GrantTypes: []string{oktasim.GrantClientCredentials}, Scopes: []string{hookScope},
		Groups: oktasim.IncludeExclude{Include: []string{oktasim.GroupEveryone}},
	}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) setClientSecret(value string) {
	f.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-caller", Namespace: f.ns}}
	err := k8s.Get(context.Background(), client.ObjectKeyFromObject(s), s)
	s.StringData = map[string]string{"secret": value}
	if err != nil {
		f.create(s)
		return
	}
	if err := k8s.Update(context.Background(), s); err != nil {
		f.t.Fatal(err)
	}
}

func oauthSpec(clientID string) v1.HookAuth {
	return v1.HookAuth{Type: v1.HookAuthOAuth, OAuth: &v1.HookOAuth{
		ClientID: clientID, Scope: hookScope, Audience: "api://default",
		ClientSecretPost: &v1.ClientSecretPost{SecretRef: v1.SecretKeyRef{Name: "hook-caller", Key: "secret"}},
	}}
}

// podModes records the hook server's --auth-mode as the Deployment moves.
func (f *fixture) podMode(name string) string {
	d := &appsv1.Deployment{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name + "-hookserver"}, d); err != nil {
		return "?"
	}
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if m, ok := strings.CutPrefix(a, "--auth-mode="); ok {
			return m
		}
	}
	return podAuthHeader
}

// waitChannel waits until Okta's hook has the channel, the pods accept only
// that way, and the TokenHook is Ready; it returns the pod modes seen.
func (f *fixture) waitChannel(name, hookID, channel string) []string {
	f.t.Helper()
	var modes []string
	eventually(f.t, waitFor, func() error {
		m := f.podMode(name)
		if len(modes) == 0 || modes[len(modes)-1] != m {
			modes = append(modes, m)
		}
		h, err := sim.Hook(hookID)
		if err != nil {
			return err
		}
		if got := strings.ToLower(h.Channel.Type); (channel == channelOAuth) != (got == "oauth") {
			return fmt.Errorf("Okta's channel is %s", h.Channel.Type)
		}
		if m != podMode(channel) {
			return fmt.Errorf("pods accept %s", m)
		}
		th := &v1.TokenHook{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, th); err != nil {
			return err
		}
		if !isTrue(th, v1.ConditionReady) || th.Status.ObservedGeneration != th.Generation {
			return fmt.Errorf("not Ready at generation %d", th.Generation)
		}
		return nil
	})
	return modes
}

// Okta's calls switch from the header secret to OAuth access tokens, have
// their client secret rotated, and switch back, all under steady logins:
// no hook call fails.
func TestSwitchingHookAuthFailsNoCall(t *testing.T) {
	f := newFixture(t)
	m := f.newMinter()
	callerID := f.hookCaller("first-client-secret")
	f.setClientSecret("first-client-secret")
	f.create(m.tokenHook(f, "switch"))
	th := f.waitReady("switch")
	hookID := th.Status.InlineHookID
	stop := m.mintSteadily(t)

	f.update("switch", func(th *v1.TokenHook) { th.Spec.HookAuth = oauthSpec(callerID) })
	modes := f.waitChannel("switch", hookID, channelOAuth)
	if !slices.Contains(modes, podAuthBoth) {
		t.Errorf("pod auth modes on the way to OAuth %v never accepted both", modes)
	}
	h, err := sim.Hook(hookID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Channel.AuthScheme != nil || h.Channel.OAuth == nil {
		t.Errorf("the OAUTH channel keeps an authScheme, or has no OAuth config")
	} else if h.Channel.OAuth.ClientSecret != "first-client-secret" || h.Channel.OAuth.Scope != hookScope {
		t.Errorf("Okta's channel does not have the client secret and scope")
	}
	// The app accepts both secrets while its secret rotates, as Okta's do.
	if err := sim.SetClientSecrets(callerID, "first-client-secret", "second-client-secret"); err != nil {
		t.Fatal(err)
	}
	f.setClientSecret("second-client-secret")
	eventually(t, waitFor, func() error {
		h, err := sim.Hook(hookID)
		if err != nil {
			return err
		}
		if h.Channel.OAuth == nil || h.Channel.OAuth.ClientSecret != "second-client-secret" {
			return fmt.Errorf("Okta's channel has the old client secret")
		}
		return nil
	})
	// The old secret is retired on the app; the next call gets a token with the new one.
	if err := sim.SetClientSecrets(callerID, "second-client-secret"); err != nil {
		t.Fatal(err)
	}
	sim.ForgetHookTokens()
	f.waitReady("switch")

	f.update("switch", func(th *v1.TokenHook) { th.Spec.HookAuth = v1.HookAuth{Type: v1.HookAuthHeader} })
	modes = f.waitChannel("switch", hookID, channelHTTP)
	if !slices.Contains(modes, podAuthBoth) {
		t.Errorf("pod auth modes on the way back to header auth %v never accepted both", modes)
	}
	time.Sleep(500 * time.Millisecond)
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
	if n := len(hooksNamed("tokenhook/" + f.ns + "/switch")); n != 1 {
		t.Errorf("%d hooks by our name, want 1", n)
	}
}

// channelStep is one state of Okta's channel, as sampled.
type channelStep struct{ kind, client, key string }

// sampleChannel records the states Okta's channel goes through until done
// is closed, and checks at each that a private_key_jwt channel's key is
// active in the JWKS of the app it names.
func sampleChannel(hookID string, done <-chan struct{}) (steps func() ([]channelStep, []string)) {
	var seen []channelStep
	var bad []string
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if h, err := sim.Hook(hookID); err == nil {
				step := channelStep{kind: h.Channel.Type}
				if o := h.Channel.OAuth; o != nil {
					step.client, step.key = o.ClientID, o.HookKeyID
					if o.HookKeyID != "" {
						k, kerr := sim.HookKey(o.HookKeyID)
						active, _ := jwksOf(o.ClientID)
						if kerr != nil || !slices.Contains(active, k.KeyID+"/"+oktasim.JWKActive) {
							bad = append(bad, fmt.Sprintf("channel names %s through %s, whose JWKS is %v", o.HookKeyID, o.ClientID, active))
						}
					}
				}
				if len(seen) == 0 || seen[len(seen)-1] != step {
					seen = append(seen, step)
				}
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() ([]channelStep, []string) { <-stopped; return seen, bad }
}

// waitOAuthClient waits until Okta's channel gets its tokens as client, the
// pods check that client alone, and the TokenHook is Ready.
func (f *fixture) waitOAuthClient(name, hookID, clientID string) []string {
	f.t.Helper()
	var modes []string
	eventually(f.t, waitFor, func() error {
		m := f.podMode(name)
		if len(modes) == 0 || modes[len(modes)-1] != m {
			modes = append(modes, m)
		}
		if hookID == "" {
			hookID = f.get(name).Status.InlineHookID
		}
		h, err := sim.Hook(hookID)
		if err != nil {
			return err
		}
		if h.Channel.OAuth == nil || h.Channel.OAuth.ClientID != clientID {
			return fmt.Errorf("Okta's channel is %s %+v", h.Channel.Type, h.Channel.OAuth)
		}
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name + "-hookserver"}, d); err != nil {
			return err
		}
		if m != podAuthOAuth || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--oauth-client-id="+clientID) {
			return fmt.Errorf("pods accept %s, args %v", m, d.Spec.Template.Spec.Containers[0].Args)
		}
		th := f.get(name)
		if !isTrue(th, v1.ConditionReady) || th.Status.ObservedGeneration != th.Generation {
			return fmt.Errorf("not Ready at generation %d: %s", th.Generation, conditions(th))
		}
		return nil
	})
	return modes
}

// A change of OAuth client under steady logins, with client_secret_post and
// with private_key_jwt: the pods check one client at a time, so Okta's
// calls go by the header secret in between, and no hook call fails.
func TestChangingOAuthClientFailsNoCall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs func(f *fixture) (from, to v1.HookAuth)
	}{
		{"client_secret_post", func(f *fixture) (v1.HookAuth, v1.HookAuth) {
			from := f.hookCaller("client-secret")
			f.setClientSecret("client-secret")
			to := "0oanewcaller" + strings.ReplaceAll(f.ns, "-", "")
			f.addServiceApp("New hook caller "+f.ns, oktasim.ClientSpec{ClientID: to, ClientSecret: "client-secret",
				GrantTypes: []string{oktasim.GrantClientCredentials}, TokenEndpointAuthMethod: oktasim.ClientAuthSecretPost})
			return oauthSpec(from), oauthSpec(to)
		}},
		{"private_key_jwt", func(f *fixture) (v1.HookAuth, v1.HookAuth) {
			return pkjwtSpec(f.jwtCaller(), true), pkjwtSpec(f.jwtCallerNamed("new"), true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.newMinter()
			from, to := tc.specs(f)
			th := m.tokenHook(f, "client")
			th.Spec.HookAuth = from
			f.create(th)
			f.waitOAuthClient("client", "", from.OAuth.ClientID)
			hookID := f.get("client").Status.InlineHookID
			stop := m.mintSteadily(t)
			time.Sleep(300 * time.Millisecond)

			done := make(chan struct{})
			steps := sampleChannel(hookID, done)
			f.update("client", func(th *v1.TokenHook) { th.Spec.HookAuth = to })
			modes := f.waitOAuthClient("client", hookID, to.OAuth.ClientID)
			close(done)
			seen, bad := steps()
			time.Sleep(500 * time.Millisecond)
			minted, failures := stop()

			if !slices.Contains(modes, podAuthBoth) {
				t.Errorf("pod auth modes %v never accepted both ways", modes)
			}
			var kinds []string
			for _, s := range seen {
				if len(kinds) == 0 || kinds[len(kinds)-1] != s.kind {
					kinds = append(kinds, s.kind)
				}
			}
			if !slices.Equal(kinds, []string{"OAUTH", "HTTP", "OAUTH"}) {
				t.Errorf("Okta's channel went %v (%+v), want OAUTH, HTTP, OAUTH", kinds, seen)
			}
			if len(bad) > 0 {
				t.Errorf("Okta's channel named a key its app did not have: %s", bad[0])
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
			if to.OAuth.PrivateKeyJWT == nil {
				return
			}
			// The key moved apps: the new app has it, the old one only as
			// Okta keeps a private_key_jwt app's last active key.
			st := f.get("client").Status.HookAuth
			if k := st.HookKey; k == nil || k.RegisteredIn != to.OAuth.ClientID || k.AppID != to.OAuth.ClientID {
				t.Errorf("hook key status after the move: %+v", k)
			} else if got := kids(t, to.OAuth.ClientID); !slices.Equal(got, []string{k.KeyID + "/" + oktasim.JWKActive}) {
				t.Errorf("the new app's JWKS %v, want the key", got)
			}
		})
	}
}

// A TokenHook created with OAuth hook auth never has a header channel, and a
// missing client secret is reported without touching Okta.
func TestOAuthFromCreation(t *testing.T) {
	f := newFixture(t)
	callerID := f.hookCaller("the-client-secret")
	th := f.tokenHook("oauth-new")
	th.Spec.HookAuth = oauthSpec(callerID)
	f.create(th)
	eventually(t, waitFor, func() error {
		got := &v1.TokenHook{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(th), got); err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionInlineHookRegistered)
		if c == nil || c.Reason != v1.ReasonClientSecretNotFound || !strings.Contains(c.Message, "spec.hookAuth.oauth.clientSecretPost.secretRef") {
			return fmt.Errorf("InlineHookRegistered %+v", c)
		}
		if got.Status.InlineHookID != "" {
			return fmt.Errorf("a hook was registered without its client secret")
		}
		return nil
	})
	f.setClientSecret("the-client-secret")
	got := f.waitReady("oauth-new")
	h, err := sim.Hook(got.Status.InlineHookID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(h.Channel.Type, "OAUTH") {
		t.Errorf("channel %s, want OAUTH", h.Channel.Type)
	}
	if m := f.podMode("oauth-new"); m != podAuthOAuth {
		t.Errorf("pods accept %s, want oauth", m)
	}
	for _, c := range got.Status.Conditions {
		if strings.Contains(c.Message, "the-client-secret") {
			t.Errorf("condition %s shows the client secret", c.Type)
		}
	}
}

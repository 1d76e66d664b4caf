package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
)

func oauthTokenHook() *v1.TokenHook {
	th := sampleTokenHook()
	th.Spec.HookAuth = v1.HookAuth{Type: v1.HookAuthOAuth, OAuth: &v1.HookOAuth{
		ClientID: "0oahookcaller", Scope: "tokenhook.call", Audience: "api://default",
		ClientSecretPost: &v1.ClientSecretPost{SecretRef: v1.SecretKeyRef{Name: "hook-caller", Key: "secret"}},
	}}
	return th
}

func TestPlanHookAuth(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	grace := 30 * time.Second
	cases := map[string]struct {
		state        authSecretState
		registered   bool
		want         string
		checkChanged bool
		plan         hookAuthPlan
	}{
		"new hook, header": {
			want: channelHTTP, plan: hookAuthPlan{podMode: podAuthHeader, channel: channelHTTP},
		},
		"new hook, OAuth: created with it, no switch": {
			want: channelOAuth, plan: hookAuthPlan{podMode: podAuthOAuth, channel: channelOAuth},
		},
		"a hook from before OAuth stays on header auth": {
			registered: true, want: channelHTTP, plan: hookAuthPlan{podMode: podAuthHeader, channel: channelHTTP},
		},
		"header to OAuth: the pods accept both before Okta moves": {
			registered: true, want: channelOAuth,
			plan: hookAuthPlan{podMode: podAuthBoth, channel: channelOAuth, awaitRollout: true, switching: true},
		},
		"Okta moved: both until the grace is over": {
			state:      authSecretState{oktaChannel: channelOAuth, channelSwitched: now.Add(-10 * time.Second)},
			registered: true, want: channelOAuth,
			plan: hookAuthPlan{podMode: podAuthBoth, channel: channelOAuth, switching: true, requeueIn: 20 * time.Second},
		},
		"Okta moved, grace over: header auth retired": {
			state:      authSecretState{oktaChannel: channelOAuth, channelSwitched: now.Add(-grace)},
			registered: true, want: channelOAuth,
			plan: hookAuthPlan{podMode: podAuthOAuth, channel: channelOAuth},
		},
		"OAuth back to header: both first": {
			state:      authSecretState{oktaChannel: channelOAuth},
			registered: true, want: channelHTTP,
			plan: hookAuthPlan{podMode: podAuthBoth, channel: channelHTTP, awaitRollout: true, switching: true},
		},
		"back to header, Okta moved, within grace": {
			state:      authSecretState{oktaChannel: channelHTTP, channelSwitched: now.Add(-time.Second)},
			registered: true, want: channelHTTP,
			plan: hookAuthPlan{podMode: podAuthBoth, channel: channelHTTP, switching: true, requeueIn: grace - time.Second},
		},
		"a new OAuth client: Okta moves to the header secret first, the pods checking the old client": {
			state:      authSecretState{oktaChannel: channelOAuth},
			registered: true, want: channelOAuth, checkChanged: true,
			plan: hookAuthPlan{podMode: podAuthBoth, oktaCheck: true, channel: channelHTTP, awaitRollout: true, switching: true},
		},
		"a new OAuth client, Okta on the header secret: the old client's tokens until the grace is over": {
			state:      authSecretState{oktaChannel: channelHTTP, channelSwitched: now.Add(-10 * time.Second)},
			registered: true, want: channelOAuth, checkChanged: true,
			plan: hookAuthPlan{podMode: podAuthBoth, oktaCheck: true, channel: channelHTTP, switching: true, requeueIn: 20 * time.Second},
		},
		"a new OAuth client, grace over: on to the new client as from header auth": {
			state:      authSecretState{oktaChannel: channelHTTP, channelSwitched: now.Add(-grace)},
			registered: true, want: channelOAuth, checkChanged: true,
			plan: hookAuthPlan{podMode: podAuthBoth, channel: channelOAuth, awaitRollout: true, switching: true},
		},
		"a new OAuth client for a new hook: created with it": {
			want: channelOAuth, checkChanged: true, plan: hookAuthPlan{podMode: podAuthOAuth, channel: channelOAuth},
		},
		"switch abandoned before Okta moved: pods go back": {
			state:      authSecretState{oktaChannel: channelHTTP},
			registered: true, want: channelHTTP,
			plan: hookAuthPlan{podMode: podAuthHeader, channel: channelHTTP},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := planHookAuth(tc.state, tc.registered, tc.want, tc.checkChanged, now, grace)
			if got != tc.plan {
				t.Errorf("plan = %+v, want %+v", got, tc.plan)
			}
		})
	}
}

func TestOAuthCheckChanged(t *testing.T) {
	th := oauthTokenHook()
	same := specOAuthCheck(th)
	other := *same
	other.ClientID = "0oaothercaller"
	for _, tc := range []struct {
		name string
		had  string
		th   *v1.TokenHook
		want bool
	}{
		{"no OAuth channel recorded", "", th, false},
		{"the same check", same.encode(), th, false},
		{"another client", other.encode(), th, true},
		{"the spec asks for header auth", other.encode(), sampleTokenHook(), false},
	} {
		if got := oauthCheckChanged(tc.th, authSecretState{oktaOAuthCheck: tc.had}); got != tc.want {
			t.Errorf("%s: oauthCheckChanged = %v, want %v", tc.name, got, tc.want)
		}
	}
	// The pods check Okta's client while the change is under way.
	s := authSecretState{oktaOAuthCheck: other.encode()}
	if got := podOAuthCheck(th, s, true); got == nil || *got != other {
		t.Errorf("podOAuthCheck during the change = %+v, want Okta's %+v", got, other)
	}
	if got := podOAuthCheck(th, s, false); got == nil || *got != *same {
		t.Errorf("podOAuthCheck = %+v, want the spec's %+v", got, same)
	}
}

func TestOktaChannelIsStartsTheGraceOnlyOnAChange(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		had, now string
		started  bool
	}{
		{"", channelHTTP, false}, {channelHTTP, channelHTTP, false}, {channelOAuth, channelOAuth, false},
		{"", channelOAuth, true}, {channelHTTP, channelOAuth, true}, {channelOAuth, channelHTTP, true},
	} {
		p := &authPlan{next: authSecretState{oktaChannel: tc.had}, hookAuth: hookAuthPlan{awaitRollout: true}}
		p.oktaChannelIs(tc.now, now)
		if started := p.next.channelSwitched.Equal(now); started != tc.started || p.next.oktaChannel != tc.now || p.hookAuth.awaitRollout {
			t.Errorf("%q -> %q: grace started %v (want %v), channel %q, awaitRollout %v", tc.had, tc.now, started, tc.started, p.next.oktaChannel, p.hookAuth.awaitRollout)
		}
	}
}

func TestHookServerArgsByAuthMode(t *testing.T) {
	th := oauthTokenHook()
	header := hookServerArgs(th, podAuth{mode: podAuthHeader, check: specOAuthCheck(th), oktaCA: true})
	if slices.ContainsFunc(header, func(a string) bool { return strings.HasPrefix(a, "--auth-mode") || strings.HasPrefix(a, "--oauth-") }) {
		t.Errorf("header mode args %v carry auth mode or OAuth flags; pods of TokenHooks made before OAuth would roll", header)
	}
	both := hookServerArgs(th, podAuth{mode: podAuthBoth, check: specOAuthCheck(th), oktaCA: true})
	for _, want := range []string{
		"--auth-mode=both", "--oauth-issuer=https://dev-1.okta.com/oauth2/default", "--oauth-audience=api://default",
		"--oauth-client-id=0oahookcaller", "--oauth-scope=tokenhook.call", "--oauth-jwks-ca-file=/etc/tokenhook/auth/okta-ca.crt",
		"--auth-secret-file=/etc/tokenhook/auth/current",
	} {
		if !slices.Contains(both, want) {
			t.Errorf("both mode args %v lack %s", both, want)
		}
	}
	th.Spec.HookAuth.OAuth.Issuer = "https://id.clinic.example/oauth2/aus1"
	oauth := hookServerArgs(th, podAuth{mode: podAuthOAuth, check: specOAuthCheck(th)})
	if !slices.Contains(oauth, "--auth-mode=oauth") || !slices.Contains(oauth, "--oauth-issuer=https://id.clinic.example/oauth2/aus1") ||
		slices.ContainsFunc(oauth, func(a string) bool { return strings.HasPrefix(a, "--oauth-jwks-ca-file") }) {
		t.Errorf("oauth mode args without a CA, custom issuer: %v", oauth)
	}
	d := desiredDeployment(th, "x", podAuth{mode: podAuthOAuth, check: specOAuthCheck(th), oktaCA: true})
	var items []string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "auth" {
			for _, it := range v.Secret.Items {
				items = append(items, it.Key)
			}
		}
	}
	if !slices.Equal(items, []string{authKeyCurrent, authKeyPrevious, authKeyOktaCA}) {
		t.Errorf("auth volume items %v", items)
	}
}

func TestPodsKeepOktasOAuthCheckOnTheWayBack(t *testing.T) {
	th := oauthTokenHook()
	recorded := authSecretState{oktaChannel: channelOAuth, oktaOAuthCheck: specOAuthCheck(th).encode()}
	th.Spec.HookAuth = v1.HookAuth{Type: v1.HookAuthHeader}
	c := podOAuthCheck(th, recorded, false)
	if c == nil || c.ClientID != "0oahookcaller" || c.Issuer != "https://dev-1.okta.com/oauth2/default" {
		t.Fatalf("check on the way back %+v, want the one Okta's channel had", c)
	}
	if args := hookServerArgs(th, podAuth{mode: podAuthBoth, check: c}); !slices.Contains(args, "--oauth-client-id=0oahookcaller") {
		t.Errorf("both mode args on the way back %v", args)
	}
	if podOAuthCheck(th, authSecretState{}, false) != nil {
		t.Errorf("a check with neither the spec's nor a recorded one")
	}
}

func TestOAuthChannelAndDiff(t *testing.T) {
	th := oauthTokenHook()
	want := desiredInlineHook(th, "header-secret", channelOAuth, "client-s3cret", "")
	if want.AuthHeader != "" || want.AuthSecret != "" || want.OAuth == nil {
		t.Fatalf("OAuth hook %+v carries a header secret or no channel", want)
	}
	if o := want.OAuth; o.TokenURL != "https://dev-1.okta.com/oauth2/default/v1/token" || o.AuthType != okta.AuthTypeClientSecretPost || o.ClientSecret != "client-s3cret" {
		t.Errorf("channel %+v", o)
	}
	asRead := want
	asRead.OAuth = &okta.OAuthChannel{AuthType: want.OAuth.AuthType, ClientID: want.OAuth.ClientID, TokenURL: want.OAuth.TokenURL, Scope: want.OAuth.Scope}
	http := desiredInlineHook(th, "header-secret", channelHTTP, "", "")
	http.AuthSecret = ""
	cases := map[string]struct {
		got         okta.InlineHook
		secretKnown bool
		diff        string
	}{
		"up to date":            {got: asRead, secretKnown: true},
		"client secret new":     {got: asRead, diff: "channel.config.clientSecret"},
		"still an HTTP channel": {got: http, secretKnown: true, diff: "channel.type"},
		"scope changed in Okta": {got: with(asRead, func(h *okta.InlineHook) {
			o := *h.OAuth
			o.Scope = "other"
			h.OAuth = &o
		}), secretKnown: true, diff: "channel.config.scope"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := hookDiff(&tc.got, want, tc.secretKnown)
			if got != tc.diff {
				t.Errorf("diff = %q, want %q", got, tc.diff)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("diff leaks the secret")
			}
		})
	}
	if d := hookDiff(&asRead, http, true); d != "channel.type" {
		t.Errorf("OAuth hook against a header one: diff %q", d)
	}
}

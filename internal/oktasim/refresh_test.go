package oktasim

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const refreshApp = "0oarefreshapp" // a public app allowed the refresh_token grant

// fakeClock is a simulator clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newRefreshEnv is newMintEnv with refreshApp, and the default rule allowing refresh_token
// with these refresh token minutes (0: the defaults).
func newRefreshEnv(t *testing.T, clock *fakeClock, lifetimeMinutes, windowMinutes int) *mintEnv {
	t.Helper()
	opts := Options{}
	if clock != nil {
		opts.Now = clock.now
	}
	env := newMintEnvWith(t, opts)
	if err := env.sim.AddClient(ClientSpec{ClientID: refreshApp, GrantTypes: []string{GrantPassword, GrantRefreshToken}}); err != nil {
		t.Fatal(err)
	}
	env.allowRefresh(t, lifetimeMinutes, windowMinutes)
	return env
}

func (env *mintEnv) allowRefresh(t *testing.T, lifetimeMinutes, windowMinutes int) {
	t.Helper()
	r, err := env.sim.UpdateRule(DefaultAuthServerID, env.policy.ID, env.rule.ID, func(r *Rule) {
		r.Conditions.GrantTypes = append(r.Conditions.GrantTypes, GrantRefreshToken)
		r.Token.RefreshTokenLifetimeMinutes = lifetimeMinutes
		r.Token.RefreshTokenWindowMinutes = windowMinutes
	})
	if err != nil {
		t.Fatal(err)
	}
	env.rule = r
}

func passwordFor(clientID, scope string) url.Values {
	f := password(scope)
	f.Set("client_id", clientID)
	return f
}

func refreshForm(clientID, refreshToken string) url.Values {
	return url.Values{"grant_type": {GrantRefreshToken}, "client_id": {clientID}, "refresh_token": {refreshToken}}
}

type refreshBody struct {
	tokenBody
	RefreshToken string `json:"refresh_token"`
}

func TestRefreshTokenIssuedOnlyWhenAllowed(t *testing.T) {
	cases := map[string]struct {
		client      string
		scope       string
		ruleAllows  bool
		wantRefresh bool
	}{
		"offline_access, app and rule allow": {client: refreshApp, scope: "openid offline_access", ruleAllows: true, wantRefresh: true},
		"no offline_access":                  {client: refreshApp, scope: "openid", ruleAllows: true},
		"app does not allow refresh_token":   {client: publicApp, scope: "openid offline_access", ruleAllows: true},
		"rule does not allow refresh_token":  {client: refreshApp, scope: "openid offline_access"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env := newMintEnv(t)
			if err := env.sim.AddClient(ClientSpec{ClientID: refreshApp, GrantTypes: []string{GrantPassword, GrantRefreshToken}}); err != nil {
				t.Fatal(err)
			}
			if tc.ruleAllows {
				env.allowRefresh(t, 0, 0)
			}
			w := tokenCall(t, env.sim, passwordFor(tc.client, tc.scope))
			okTokens(t, w)
			got := decodeJSON[refreshBody](t, w)
			if (got.RefreshToken != "") != tc.wantRefresh {
				t.Errorf("refresh_token = %q, want one: %t", got.RefreshToken, tc.wantRefresh)
			}
			event := decodeEvent(t, env.hook.requests()[0].Body)
			if (event.Data.RefreshToken != nil) != tc.wantRefresh {
				t.Errorf("event data.refresh_token = %+v, want one: %t", event.Data.RefreshToken, tc.wantRefresh)
			}
		})
	}
}

// TestRefreshGrantCallsTheHookWithTheOriginalGrant: a refresh mints new tokens, runs the hook
// with Okta's refresh context and applies its answer, and answers the same refresh token.
func TestRefreshGrantCallsTheHookWithTheOriginalGrant(t *testing.T) {
	env := newRefreshEnv(t, nil, 0, 0)
	env.hook.set(reply(`{"commands":[{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/patientID","value":"P-1"}]}]}`))
	first := decodeJSON[refreshBody](t, tokenCall(t, env.sim, passwordFor(refreshApp, "openid profile offline_access")))
	if first.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	w := tokenCall(t, env.sim, refreshForm(refreshApp, first.RefreshToken))
	okTokens(t, w)
	again := decodeJSON[refreshBody](t, w)
	if again.RefreshToken != first.RefreshToken || again.IDToken == "" || again.AccessToken == first.AccessToken {
		t.Errorf("refresh answer = %+v", again)
	}
	if again.Scope != "openid profile offline_access" {
		t.Errorf("scope = %q, want the refresh token's", again.Scope)
	}
	if got := verify(t, env.sim, again.AccessToken, "api://default")["patientID"]; got != "P-1" {
		t.Errorf("refreshed access token patientID = %v", got)
	}

	reqs := env.hook.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d hook calls, want 2", len(reqs))
	}
	login, refresh := decodeEvent(t, reqs[0].Body), decodeEvent(t, reqs[1].Body)
	og := refresh.Data.Context.Protocol.OriginalGrant
	checks := map[string][2]any{
		"grant_type":                   {refresh.Data.Context.Protocol.Request.GrantType, GrantRefreshToken},
		"scope":                        {refresh.Data.Context.Protocol.Request.Scope, "openid profile offline_access"},
		"OriginalGrant present":        {og != nil, true},
		"login has no OriginalGrant":   {login.Data.Context.Protocol.OriginalGrant == nil, true},
		"user login":                   {refresh.Data.Context.User.Profile.Login, patientLogin},
		"no session on refresh":        {refresh.Data.Context.Session == nil, true},
		"refresh_token jti unchanged":  {refresh.Data.RefreshToken.JTI, login.Data.RefreshToken.JTI},
		"ID token minted":              {refresh.Data.Identity != nil, true},
		"policy rule":                  {refresh.Data.Context.Policy.Rule.ID, env.rule.ID},
		"jti is Okta-shaped (oar, 20)": {len(login.Data.RefreshToken.JTI) == 20 && login.Data.RefreshToken.JTI[:3] == "oar", true},
	}
	if og != nil {
		checks["OriginalGrant.authorization.grant_type"] = [2]any{og.Authorization.GrantType, GrantPassword}
		checks["OriginalGrant.authorization.scope"] = [2]any{og.Authorization.Scope, "openid profile offline_access"}
		checks["OriginalGrant.refresh_token.jti"] = [2]any{og.RefreshToken.JTI, login.Data.RefreshToken.JTI}
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", what, c[0], c[1])
		}
	}
}

func TestRefreshGrantRefusals(t *testing.T) {
	cases := map[string]struct {
		// prepare runs after the login; it returns the form to refresh with.
		prepare func(t *testing.T, env *mintEnv, clock *fakeClock, rt string) url.Values
		status  int
		error   string
	}{
		"subset of the scopes": {status: 200, prepare: func(_ *testing.T, _ *mintEnv, _ *fakeClock, rt string) url.Values {
			f := refreshForm(refreshApp, rt)
			f.Set("scope", "openid offline_access")
			return f
		}},
		"more scopes than the token": {status: 400, error: "invalid_scope", prepare: func(_ *testing.T, _ *mintEnv, _ *fakeClock, rt string) url.Values {
			f := refreshForm(refreshApp, rt)
			f.Set("scope", "openid email offline_access")
			return f
		}},
		"unknown refresh token": {status: 400, error: "invalid_grant", prepare: func(*testing.T, *mintEnv, *fakeClock, string) url.Values {
			return refreshForm(refreshApp, "not-a-token")
		}},
		"no refresh_token": {status: 400, error: "invalid_request", prepare: func(*testing.T, *mintEnv, *fakeClock, string) url.Values {
			return refreshForm(refreshApp, "")
		}},
		"another client's token": {status: 400, error: "invalid_grant", prepare: func(t *testing.T, env *mintEnv, _ *fakeClock, rt string) url.Values {
			if err := env.sim.AddClient(ClientSpec{ClientID: "0oaother", GrantTypes: []string{GrantPassword, GrantRefreshToken}}); err != nil {
				t.Fatal(err)
			}
			return refreshForm("0oaother", rt)
		}},
		"idle longer than the window": {status: 400, error: "invalid_grant", prepare: func(_ *testing.T, _ *mintEnv, clock *fakeClock, rt string) url.Values {
			clock.advance(30*time.Minute + time.Second)
			return refreshForm(refreshApp, rt)
		}},
		"used within the window, again and again": {status: 200, prepare: func(t *testing.T, env *mintEnv, clock *fakeClock, rt string) url.Values {
			for range 2 {
				clock.advance(25 * time.Minute)
				okTokens(t, tokenCall(t, env.sim, refreshForm(refreshApp, rt)))
			}
			clock.advance(25 * time.Minute) // 75 minutes after issue, 25 after the last use
			return refreshForm(refreshApp, rt)
		}},
		"past the lifetime, though used": {status: 400, error: "invalid_grant", prepare: func(t *testing.T, env *mintEnv, clock *fakeClock, rt string) url.Values {
			for range 4 {
				clock.advance(25 * time.Minute)
				okTokens(t, tokenCall(t, env.sim, refreshForm(refreshApp, rt)))
			}
			clock.advance(21 * time.Minute) // 121 minutes after issue
			return refreshForm(refreshApp, rt)
		}},
		"revoked": {status: 400, error: "invalid_grant", prepare: func(t *testing.T, env *mintEnv, _ *fakeClock, rt string) url.Values {
			if w := oidcCall(t, env.sim, "revoke", url.Values{"client_id": {refreshApp}, "token": {rt}}); w.Code != http.StatusOK {
				t.Fatalf("revoke = %d %s", w.Code, w.Body)
			}
			return refreshForm(refreshApp, rt)
		}},
		"rule no longer allows refresh_token": {status: 400, error: "access_denied", prepare: func(t *testing.T, env *mintEnv, _ *fakeClock, rt string) url.Values {
			if _, err := env.sim.UpdateRule(DefaultAuthServerID, env.policy.ID, env.rule.ID, func(r *Rule) {
				r.Conditions.GrantTypes = []string{GrantPassword}
			}); err != nil {
				t.Fatal(err)
			}
			return refreshForm(refreshApp, rt)
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{t: time.Now()}
			env := newRefreshEnv(t, clock, 120, 30)
			rt := decodeJSON[refreshBody](t, tokenCall(t, env.sim, passwordFor(refreshApp, "openid profile offline_access"))).RefreshToken
			if rt == "" {
				t.Fatal("no refresh token")
			}
			w := tokenCall(t, env.sim, tc.prepare(t, env, clock, rt))
			if w.Code != tc.status {
				t.Fatalf("refresh = %d %s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.status == http.StatusOK {
				return
			}
			got := decodeJSON[oauthErrorBody](t, w)
			if got.Error != tc.error {
				t.Errorf("error = %+v, want %s", got, tc.error)
			}
			if tc.error == "invalid_grant" && got.Description != descBadRefresh {
				t.Errorf("error_description = %q, want Okta's %q", got.Description, descBadRefresh)
			}
		})
	}
}

// TestRefreshAfterAuthorizationCode: the code flow gets a refresh token too, and the refresh
// event's OriginalGrant is the authorization request.
func TestRefreshAfterAuthorizationCode(t *testing.T) {
	env := newRefreshEnv(t, nil, 0, 0)
	spa := ClientSpec{ClientID: "0oaspa", RedirectURIs: []string{redirectURI}, GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}}
	if err := env.sim.AddClient(spa); err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	q := url.Values{"client_id": {spa.ClientID}, "response_type": {"code"}, "scope": {"openid offline_access"},
		"redirect_uri": {redirectURI}, "state": {"st4te"}, "sessionToken": {sessionToken(t, env.sim)},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	w := call(t, env.sim, http.MethodGet, orgURL+"/oauth2/default/v1/authorize?"+q.Encode(), "", "Authorization", "")
	loc, err := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize = %d %s", w.Code, w.Header().Get("Location"))
	}
	redeem := url.Values{"grant_type": {GrantAuthorizationCode}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirectURI},
		"client_id": {spa.ClientID}, "code_verifier": {verifier}}
	rt := decodeJSON[refreshBody](t, tokenCall(t, env.sim, redeem)).RefreshToken
	if rt == "" {
		t.Fatal("no refresh token from the code flow")
	}
	okTokens(t, tokenCall(t, env.sim, refreshForm(spa.ClientID, rt)))
	reqs := env.hook.requests()
	og := decodeEvent(t, reqs[len(reqs)-1].Body).Data.Context.Protocol.OriginalGrant
	want := eventProtocolRequest{ClientID: spa.ClientID, GrantType: GrantAuthorizationCode, RedirectURI: redirectURI,
		ResponseMode: "query", ResponseType: "code", Scope: "openid offline_access", State: "st4te"}
	if og == nil || og.Authorization != want {
		t.Errorf("OriginalGrant = %+v, want authorization %+v", og, want)
	}
}

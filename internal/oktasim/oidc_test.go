package oktasim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// oidcCall posts form to an endpoint of the default authorization server (introspect, revoke,
// logout); basic, if given, is client_id and client_secret for HTTP Basic.
func oidcCall(t *testing.T, s *Sim, endpoint string, form url.Values, basic ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, orgURL+"/oauth2/default/v1/"+endpoint, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		r.SetBasicAuth(basic[0], basic[1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func userinfoCall(s *Sim, bearer string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, orgURL+"/oauth2/default/v1/userinfo", nil)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func introspect(t *testing.T, s *Sim, tok string) map[string]any {
	t.Helper()
	w := oidcCall(t, s, "introspect", url.Values{"token": {tok}}, serviceApp, serviceKey)
	if w.Code != http.StatusOK {
		t.Fatalf("introspect = %d %s", w.Code, w.Body)
	}
	return decodeJSON[map[string]any](t, w)
}

// TestDiscoveryListsTheEndpointsItServes: both discovery documents list the endpoints of Okta's
// OAuthMetadata (userinfo only in the OpenID one, as OidcMetadata adds it), and each one listed
// is served.
func TestDiscoveryListsTheEndpointsItServes(t *testing.T) {
	s := New(Options{})
	iss := orgURL + "/oauth2/default"
	endpoints := map[string]string{ // metadata field → method the endpoint takes
		"authorization_endpoint": http.MethodGet, "token_endpoint": http.MethodPost, "jwks_uri": http.MethodGet,
		"introspection_endpoint": http.MethodPost, "revocation_endpoint": http.MethodPost,
		"end_session_endpoint": http.MethodGet, "userinfo_endpoint": http.MethodGet,
	}
	for path, oidc := range map[string]bool{"/.well-known/openid-configuration": true, "/.well-known/oauth-authorization-server": false} {
		m := decodeJSON[map[string]any](t, call(t, s, http.MethodGet, iss+path, "", "Authorization", ""))
		for field, method := range endpoints {
			u, listed := m[field].(string)
			if field == "userinfo_endpoint" && !oidc {
				if listed {
					t.Errorf("%s lists %s, which Okta's OAuthMetadata has not", path, field)
				}
				continue
			}
			if !listed || !strings.HasPrefix(u, iss+"/v1/") {
				t.Errorf("%s %s = %v", path, field, m[field])
				continue
			}
			rt, _, status := match(s.routes, method, strings.TrimPrefix(u, orgURL))
			if status != http.StatusOK || rt.scope != "" {
				t.Errorf("%s %s %s is not served without an API token (%d)", path, field, u, status)
			}
		}
		for _, field := range []string{"introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
			if methods, _ := m[field].([]any); len(methods) != len(clientAuthMethods) {
				t.Errorf("%s %s = %v", path, field, m[field])
			}
		}
		if gts, _ := m["grant_types_supported"].([]any); len(gts) != len(mintGrantTypes) {
			t.Errorf("%s grant_types_supported = %v", path, m["grant_types_supported"])
		}
	}
}

func TestIntrospect(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	env := newRefreshEnv(t, clock, 0, 0)
	login := decodeJSON[refreshBody](t, tokenCall(t, env.sim, passwordFor(refreshApp, "openid profile offline_access")))
	cc := okTokens(t, tokenCall(t, env.sim, clientCredentials("patients.read"), serviceApp, serviceKey))

	t.Run("access token", func(t *testing.T) {
		got := introspect(t, env.sim, login.AccessToken)
		want := map[string]any{"active": true, "token_type": "Bearer", "scope": "openid profile offline_access",
			"client_id": refreshApp, "username": patientLogin, "sub": patientLogin, "uid": env.user.ID,
			"aud": "api://default", "iss": orgURL + "/oauth2/default"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		for _, k := range []string{"exp", "iat", "jti"} {
			if _, ok := got[k]; !ok {
				t.Errorf("no %s in %v", k, got)
			}
		}
	})
	t.Run("client credentials token", func(t *testing.T) {
		got := introspect(t, env.sim, cc.AccessToken)
		if got["active"] != true || got["client_id"] != serviceApp || got["sub"] != serviceApp || got["uid"] != nil {
			t.Errorf("introspection = %v", got)
		}
	})
	t.Run("ID token", func(t *testing.T) {
		got := introspect(t, env.sim, login.IDToken)
		if got["active"] != true || got["client_id"] != refreshApp || got["sub"] != env.user.ID || got["aud"] != refreshApp {
			t.Errorf("introspection = %v", got)
		}
	})
	t.Run("refresh token, by its client", func(t *testing.T) {
		w := oidcCall(t, env.sim, "introspect", url.Values{"token": {login.RefreshToken}, "client_id": {refreshApp}})
		got := decodeJSON[map[string]any](t, w)
		if got["active"] != true || got["client_id"] != refreshApp || got["username"] != patientLogin || got["scope"] != "openid profile offline_access" || got["exp"] == nil {
			t.Errorf("introspection = %v", got)
		}
	})
	t.Run("refresh token, by another client", func(t *testing.T) {
		if got := introspect(t, env.sim, login.RefreshToken); len(got) != 1 || got["active"] != false {
			t.Errorf("introspection = %v, want only active false", got)
		}
	})
	t.Run("not a token", func(t *testing.T) {
		if got := introspect(t, env.sim, "garbage"); len(got) != 1 || got["active"] != false {
			t.Errorf("introspection = %v", got)
		}
	})
	t.Run("expired", func(t *testing.T) {
		clock.advance(time.Hour + time.Second)
		for name, tok := range map[string]string{"access": login.AccessToken, "ID": login.IDToken} {
			if got := introspect(t, env.sim, tok); got["active"] != false {
				t.Errorf("expired %s token = %v", name, got)
			}
		}
	})
}

// TestIntrospectAndRevokeRequestErrors: both authenticate the client as /token does and need
// the token parameter, with the errors of Okta's OAuth OpenAPI examples.
func TestIntrospectAndRevokeRequestErrors(t *testing.T) {
	env := newMintEnv(t)
	cases := map[string]struct {
		form   url.Values
		basic  []string
		status int
		error  string
		desc   string
	}{
		"no client credentials":        {form: url.Values{"token": {"x"}}, status: 401, error: "invalid_client", desc: "No client credentials found"},
		"unknown client":               {form: url.Values{"token": {"x"}, "client_id": {"0oanope"}}, status: 401, error: "invalid_client"},
		"wrong secret":                 {form: url.Values{"token": {"x"}}, basic: []string{serviceApp, "nope"}, status: 401, error: "invalid_client"},
		"multiple client credentials":  {form: url.Values{"token": {"x"}, "client_secret": {serviceKey}}, basic: []string{serviceApp, serviceKey}, status: 400, error: "invalid_request", desc: descMultipleCreds},
		"no token":                     {form: url.Values{}, basic: []string{serviceApp, serviceKey}, status: 400, error: "invalid_request", desc: "The `token` parameter is required."},
		"public client by client_id":   {form: url.Values{"token": {"x"}, "client_id": {publicApp}}, status: 200},
		"confidential client, in body": {form: url.Values{"token": {"x"}, "client_id": {serviceApp}, "client_secret": {serviceKey}}, status: 200},
	}
	for _, endpoint := range []string{"introspect", "revoke"} {
		for name, tc := range cases {
			t.Run(endpoint+"/"+name, func(t *testing.T) {
				w := oidcCall(t, env.sim, endpoint, tc.form, tc.basic...)
				if w.Code != tc.status {
					t.Fatalf("status = %d %s, want %d", w.Code, w.Body, tc.status)
				}
				if tc.status == http.StatusOK {
					return
				}
				got := decodeJSON[oauthErrorBody](t, w)
				if got.Error != tc.error || (tc.desc != "" && got.Description != tc.desc) {
					t.Errorf("error = %+v, want %s %q", got, tc.error, tc.desc)
				}
			})
		}
	}
}

func TestRevoke(t *testing.T) {
	env := newRefreshEnv(t, nil, 0, 0)
	mint := func() refreshBody {
		return decodeJSON[refreshBody](t, tokenCall(t, env.sim, passwordFor(refreshApp, "openid profile offline_access")))
	}
	revoke := func(tok, clientID string) {
		t.Helper()
		w := oidcCall(t, env.sim, "revoke", url.Values{"token": {tok}, "client_id": {clientID}})
		if w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Fatalf("revoke = %d %q, want 200 and no body", w.Code, w.Body)
		}
	}

	t.Run("access token", func(t *testing.T) {
		tokens := mint()
		revoke(tokens.AccessToken, refreshApp)
		if got := introspect(t, env.sim, tokens.AccessToken); got["active"] != false {
			t.Errorf("revoked access token = %v", got)
		}
		if w := userinfoCall(env.sim, tokens.AccessToken); w.Code != http.StatusUnauthorized {
			t.Errorf("userinfo with a revoked token = %d", w.Code)
		}
		// Revoking an access token leaves its refresh token alone.
		okTokens(t, tokenCall(t, env.sim, refreshForm(refreshApp, tokens.RefreshToken)))
	})
	t.Run("another client's token is not revoked", func(t *testing.T) {
		tokens := mint()
		revoke(tokens.AccessToken, publicApp)
		revoke(tokens.RefreshToken, publicApp)
		if got := introspect(t, env.sim, tokens.AccessToken); got["active"] != true {
			t.Errorf("access token = %v after another client revoked it", got)
		}
		okTokens(t, tokenCall(t, env.sim, refreshForm(refreshApp, tokens.RefreshToken)))
	})
	t.Run("refresh token, and the access tokens minted with it", func(t *testing.T) {
		tokens := mint()
		refreshed := okTokens(t, tokenCall(t, env.sim, refreshForm(refreshApp, tokens.RefreshToken)))
		revoke(tokens.RefreshToken, refreshApp)
		for name, tok := range map[string]string{"first": tokens.AccessToken, "refreshed": refreshed.AccessToken} {
			if got := introspect(t, env.sim, tok); got["active"] != false {
				t.Errorf("%s access token = %v after its refresh token was revoked", name, got)
			}
		}
		w := tokenCall(t, env.sim, refreshForm(refreshApp, tokens.RefreshToken))
		if got := decodeJSON[oauthErrorBody](t, w); w.Code != http.StatusBadRequest || got.Error != "invalid_grant" {
			t.Errorf("refresh with a revoked token = %d %s", w.Code, w.Body)
		}
	})
	t.Run("not a token", func(t *testing.T) {
		revoke("garbage", refreshApp)
	})
}

func TestUserinfo(t *testing.T) {
	env := newMintEnv(t)
	tokenFor := func(scope string) string {
		return okTokens(t, tokenCall(t, env.sim, password(scope))).AccessToken
	}
	cases := map[string]struct {
		bearer     string
		status     int
		wantClaims map[string]any
		wwwAuth    string
	}{
		"openid only": {bearer: tokenFor("openid"), status: 200, wantClaims: map[string]any{"sub": env.user.ID}},
		"profile and email": {bearer: tokenFor("openid profile email"), status: 200, wantClaims: map[string]any{
			"sub": env.user.ID, "name": "Alice Liddell", "preferred_username": patientLogin, "given_name": "Alice",
			"family_name": "Liddell", "locale": "en", "zoneinfo": "Europe/London", "email": patientLogin}},
		"no openid":      {bearer: tokenFor("profile"), status: 403, wwwAuth: `Bearer error="insufficient_scope", error_description="` + descUserinfoScope + `"`},
		"no token":       {status: 401, wwwAuth: `Bearer error="invalid_token", error_description="The access token is invalid"`},
		"not a token":    {bearer: "garbage", status: 401, wwwAuth: `Bearer error="invalid_token", error_description="The access token is invalid"`},
		"an ID token":    {bearer: okTokens(t, tokenCall(t, env.sim, password("openid"))).IDToken, status: 401},
		"client's token": {bearer: okTokens(t, tokenCall(t, env.sim, clientCredentials("patients.read"), serviceApp, serviceKey)).AccessToken, status: 401},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := userinfoCall(env.sim, tc.bearer)
			if w.Code != tc.status {
				t.Fatalf("userinfo = %d %s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.wwwAuth != "" && w.Header().Get("WWW-Authenticate") != tc.wwwAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", w.Header().Get("WWW-Authenticate"), tc.wwwAuth)
			}
			if tc.status != http.StatusOK {
				return
			}
			got := decodeJSON[map[string]any](t, w)
			if len(got) != len(tc.wantClaims) {
				t.Errorf("claims = %v, want %v", got, tc.wantClaims)
			}
			for k, v := range tc.wantClaims {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
	r := httptest.NewRequest(http.MethodPost, orgURL+"/oauth2/default/v1/userinfo", nil)
	w := httptest.NewRecorder()
	env.sim.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST userinfo = %d, want 405 (Okta's OpenAPI has GET only)", w.Code)
	}
}

func TestLogout(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	env := newMintEnvWith(t, Options{Now: clock.now})
	const signedOut = "https://app.example/signed-out"
	app := ClientSpec{ClientID: "0oaweb", GrantTypes: []string{GrantPassword}, PostLogoutRedirectURIs: []string{signedOut}}
	if err := env.sim.AddClient(app); err != nil {
		t.Fatal(err)
	}
	tokens := okTokens(t, tokenCall(t, env.sim, passwordFor(app.ClientID, "openid")))
	cases := map[string]struct {
		method   string
		form     url.Values
		expire   bool
		status   int
		location string
	}{
		"no redirect":           {method: http.MethodGet, form: url.Values{"id_token_hint": {tokens.IDToken}}, status: 200},
		"redirect with state":   {method: http.MethodGet, form: url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {signedOut}, "state": {"s1"}}, status: 302, location: signedOut + "?state=s1"},
		"POST form":             {method: http.MethodPost, form: url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {signedOut}}, status: 302, location: signedOut},
		"expired ID token":      {method: http.MethodGet, form: url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {signedOut}}, expire: true, status: 302, location: signedOut},
		"unregistered redirect": {method: http.MethodGet, form: url.Values{"id_token_hint": {tokens.IDToken}, "post_logout_redirect_uri": {"https://evil.example/"}}, status: 400},
		"no id_token_hint":      {method: http.MethodGet, form: url.Values{"post_logout_redirect_uri": {signedOut}}, status: 400},
		"an access token":       {method: http.MethodGet, form: url.Values{"id_token_hint": {tokens.AccessToken}}, status: 400},
		"not a token":           {method: http.MethodGet, form: url.Values{"id_token_hint": {"garbage"}}, status: 400},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if tc.expire {
				clock.advance(2 * time.Hour)
			}
			u := orgURL + "/oauth2/default/v1/logout"
			var r *http.Request
			if tc.method == http.MethodGet {
				r = httptest.NewRequest(http.MethodGet, u+"?"+tc.form.Encode(), nil)
			} else {
				r = httptest.NewRequest(http.MethodPost, u, strings.NewReader(tc.form.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			w := httptest.NewRecorder()
			env.sim.ServeHTTP(w, r)
			if w.Code != tc.status || w.Header().Get("Location") != tc.location {
				t.Errorf("logout = %d Location %q, want %d %q", w.Code, w.Header().Get("Location"), tc.status, tc.location)
			}
		})
	}
}

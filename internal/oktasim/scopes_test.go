package oktasim

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
)

// TestUndefinedScopeIsInvalidScope: a request may name the OpenID Connect scopes and the custom
// scopes of its authorization server; any other gets Okta's invalid_scope, not a token.
func TestUndefinedScopeIsInvalidScope(t *testing.T) {
	env := newMintEnv(t)
	other, err := env.sim.AddAuthServer(AuthServerSpec{Name: "other", Audiences: []string{"api://other"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.sim.AddScope(other.ID, "other.only"); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		form  url.Values
		basic []string
		ok    bool
	}{
		"OpenID Connect scopes":          {form: password("openid profile email address phone"), ok: true},
		"a defined custom scope":         {form: password("openid patients.read"), ok: true},
		"an undefined scope with openid": {form: password("openid patients.write")},
		"client credentials, undefined":  {form: clientCredentials("patients.write"), basic: []string{serviceApp, serviceKey}},
		"client credentials, defined":    {form: clientCredentials("patients.read"), basic: []string{serviceApp, serviceKey}, ok: true},
		"defined on another server only": {form: password("openid other.only")},
		"case matters":                   {form: password("openid Patients.Read")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env.hook.set(nil)
			w := tokenCall(t, env.sim, tc.form, tc.basic...)
			if tc.ok {
				okTokens(t, w)
				return
			}
			got := decodeJSON[oauthErrorBody](t, w)
			if w.Code != http.StatusBadRequest || got.Error != "invalid_scope" || got.Description != descUndefinedScope {
				t.Errorf("token = %d %s, want invalid_scope %q", w.Code, w.Body, descUndefinedScope)
			}
			if n := len(env.hook.requests()); n != 0 {
				t.Errorf("hook called %d times for a refused request", n)
			}
		})
	}

	t.Run("authorize", func(t *testing.T) {
		spa := ClientSpec{ClientID: "0oaspa", RedirectURIs: []string{redirectURI}}
		if err := env.sim.AddClient(spa); err != nil {
			t.Fatal(err)
		}
		q := url.Values{"client_id": {spa.ClientID}, "response_type": {"code"}, "scope": {"openid patients.write"},
			"redirect_uri": {redirectURI}, "state": {"s"}, "code_challenge": {"x"}, "code_challenge_method": {"S256"}}
		w := call(t, env.sim, http.MethodGet, orgURL+"/oauth2/default/v1/authorize?"+q.Encode(), "", "Authorization", "")
		loc, err := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusFound || err != nil || loc.Query().Get("error") != "invalid_scope" || loc.Query().Get("state") != "s" {
			t.Errorf("authorize = %d %s, want a redirect with invalid_scope", w.Code, w.Header().Get("Location"))
		}
	})
}

func TestAddScopeValidation(t *testing.T) {
	s := New(Options{})
	if err := s.AddScope(DefaultAuthServerID, "patients.read"); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		authServer, name string
		status           int
	}{
		"empty":           {authServer: DefaultAuthServerID, name: "", status: http.StatusBadRequest},
		"whitespace":      {authServer: DefaultAuthServerID, name: "a b", status: http.StatusBadRequest},
		"duplicate":       {authServer: DefaultAuthServerID, name: "patients.read", status: http.StatusBadRequest},
		"an OpenID scope": {authServer: DefaultAuthServerID, name: "offline_access", status: http.StatusBadRequest},
		"unknown server":  {authServer: "nope", name: "x", status: http.StatusNotFound},
		"another name":    {authServer: DefaultAuthServerID, name: "patients.write"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := s.AddScope(tc.authServer, tc.name)
			var apiErr *Error
			switch {
			case tc.status == 0 && err != nil:
				t.Errorf("AddScope = %v", err)
			case tc.status != 0 && (!errors.As(err, &apiErr) || apiErr.Status != tc.status):
				t.Errorf("AddScope = %v, want status %d", err, tc.status)
			}
		})
	}
}

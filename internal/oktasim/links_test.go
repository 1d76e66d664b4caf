package oktasim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAdvertisedLinksWork follows every _links entry of every resource the management API
// answers with, with the method it hints (GET without a hint), on a fresh copy of the org
// each time: each must succeed. Links that would not work are not advertised.
func TestAdvertisedLinksWork(t *testing.T) {
	hookSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/token" { // the OAUTH channel's authorization server
			_, _ = io.WriteString(w, `{"token_type":"Bearer","expires_in":3600,"access_token":"at","scope":"hooks"}`)
			return
		}
		_, _ = io.WriteString(w, `{"commands":[]}`)
	}))
	defer hookSrv.Close()
	httpChannel := Channel{Type: channelHTTP, Version: hookVersion, URI: hookSrv.URL + "/tokenHook",
		AuthScheme: &AuthScheme{Type: "HEADER", Key: "Authorization", Value: "secret"}}
	oauthChannel := Channel{Type: channelOAuth, Version: hookVersion, URI: hookSrv.URL + "/tokenHook",
		OAuth: &OAuthChannel{AuthType: "client_secret_post", ClientID: "0oahook", ClientSecret: "s", TokenURL: hookSrv.URL + "/token"}}

	// org makes the same org every time (same seed, same calls, so the same IDs) and returns
	// the paths of its resources.
	org := func(t *testing.T) (*Sim, map[string]string) {
		t.Helper()
		s := New(Options{Token: token, Seed: 7, HookClient: hookSrv.Client()})
		active, err := s.AddHook(HookSpec{Name: "active", Type: HookTypeToken, Version: hookVersion, Channel: httpChannel})
		if err != nil {
			t.Fatal(err)
		}
		oauth, err := s.AddHook(HookSpec{Name: "oauth", Type: HookTypeToken, Version: hookVersion, Channel: oauthChannel})
		if err != nil {
			t.Fatal(err)
		}
		inactive, err := s.AddHook(HookSpec{Name: "inactive", Type: HookTypeToken, Version: hookVersion, Channel: httpChannel})
		if err != nil {
			t.Fatal(err)
		}
		inUse, err := s.AddHook(HookSpec{Name: "in use", Type: HookTypeToken, Version: hookVersion, Channel: httpChannel})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{inactive.ID, inUse.ID} {
			if _, err := s.org.setHookStatus(id, StatusInactive); err != nil {
				t.Fatal(err)
			}
		}
		p := defaultPolicy(t, s)
		rules, _ := s.Rules(DefaultAuthServerID, p.ID)
		if _, err := s.UpdateRule(DefaultAuthServerID, p.ID, rules[0].ID, func(r *Rule) { r.Token.InlineHookID = inUse.ID }); err != nil {
			t.Fatal(err)
		}
		inactiveRule, err := s.AddRule(DefaultAuthServerID, p.ID, RuleSpec{Name: "off", Status: StatusInactive, Conditions: everyone()})
		if err != nil {
			t.Fatal(err)
		}
		u, err := s.AddUser(UserSpec{Login: patientLogin, Password: patientPass})
		if err != nil {
			t.Fatal(err)
		}
		hooks := "/api/v1/inlineHooks/"
		policy := "/api/v1/authorizationServers/default/policies/" + p.ID
		return s, map[string]string{
			"ACTIVE HTTP hook": hooks + active.ID, "ACTIVE OAUTH hook": hooks + oauth.ID,
			"INACTIVE hook": hooks + inactive.ID, "INACTIVE hook in use": hooks + inUse.ID,
			"authorization server": "/api/v1/authorizationServers/default", "policy": policy,
			"ACTIVE rule": policy + "/rules/" + rules[0].ID, "INACTIVE rule": policy + "/rules/" + inactiveRule.ID,
			"user groups": "/api/v1/users/" + u.ID + "/groups",
		}
	}
	_, paths := org(t)
	for name, path := range paths {
		if name == "user groups" {
			continue // a list; its members have no _links
		}
		t.Run(name, func(t *testing.T) {
			s, _ := org(t)
			links := decodeJSON[struct {
				Links map[string]link `json:"_links"`
			}](t, call(t, s, http.MethodGet, orgURL+path, "")).Links
			if len(links) == 0 {
				t.Fatal("no _links")
			}
			for rel, l := range links {
				t.Run(rel, func(t *testing.T) {
					fresh, _ := org(t)
					method := http.MethodGet
					if l.Hints != nil && len(l.Hints.Allow) > 0 {
						method = l.Hints.Allow[0]
					}
					body := ""
					if rel == "execute" {
						body = `{"eventType":"com.okta.oauth2.tokens.transform"}`
					}
					w := call(t, fresh, method, l.Href, body)
					if w.Code < 200 || w.Code > 299 {
						t.Errorf("%s %s = %d %s", method, strings.TrimPrefix(l.Href, orgURL), w.Code, w.Body)
					}
				})
			}
		})
	}

	s, _ := org(t)
	for name, absent := range map[string]string{"INACTIVE hook in use": "delete"} {
		links := decodeJSON[struct {
			Links map[string]link `json:"_links"`
		}](t, call(t, s, http.MethodGet, orgURL+paths[name], "")).Links
		if _, ok := links[absent]; ok {
			t.Errorf("%s advertises %s, which would fail", name, absent)
		}
	}
	// The links in a token hook event.
	w := call(t, s, http.MethodGet, orgURL+paths["user groups"], "")
	if groups := decodeJSON[[]groupOut](t, w); w.Code != http.StatusOK || len(groups) != 1 || groups[0].Profile.Name != everyoneGroupName {
		t.Errorf("user groups = %d %s", w.Code, w.Body)
	}
	factors := strings.Replace(paths["user groups"], "/groups", "/factors", 1)
	if w := call(t, s, http.MethodGet, orgURL+factors, ""); w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "[]" {
		t.Errorf("user factors = %d %s", w.Code, w.Body)
	}
	if w := call(t, s, http.MethodGet, orgURL+"/api/v1/users/00unope/groups", ""); w.Code != http.StatusNotFound {
		t.Errorf("unknown user's groups = %d", w.Code)
	}
}

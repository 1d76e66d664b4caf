package hookserver_test

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenhook/tokenhook/hookserver"
	"github.com/tokenhook/tokenhook/hookserver/patients"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

// A refresh token grant is answered like a first grant: Okta calls the token inline hook again
// (grant_type refresh_token, with OriginalGrant), and the hook server looks the user up in the
// patient list in force now, not the one of the login. End to end: the simulator minting, the
// real handler answering over TLS on loopback.

const (
	refreshSecret = "Basic cmVmcmVzaDp0ZXN0" // the hook's shared secret
	refreshApp    = "0oarefreshapp"
	refreshPass   = "correct horse"
)

// livePatients is a patient source whose list the test replaces, as a ConfigMap edit would.
type livePatients struct{ list atomic.Pointer[patients.List] }

func (p *livePatients) Current() *patients.List { return p.list.Load() }

func (p *livePatients) set(t *testing.T, csv string) {
	t.Helper()
	l, err := patients.Parse([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	p.list.Store(l)
}

type sharedSecret string

func (s sharedSecret) Valid(v string) bool {
	return subtle.ConstantTimeCompare([]byte(v), []byte(s)) == 1
}

// refreshOrg is a simulated org whose default rule calls the real hook server and allows
// refresh tokens, with users alice and bob.
func refreshOrg(t *testing.T, pts hookserver.PatientSource) *oktasim.Sim {
	t.Helper()
	h, err := hookserver.NewHandler(hookserver.HandlerConfig{
		Claim:  hookserver.DefaultClaim,
		Tokens: []protocol.Token{protocol.IDToken, protocol.AccessToken},
	}, pts, sharedSecret(refreshSecret), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)

	sim := oktasim.New(oktasim.Options{HookClient: srv.Client()})
	for _, login := range []string{"alice@example.com", "bob@example.com"} {
		if _, err := sim.AddUser(oktasim.UserSpec{Login: login, Password: refreshPass}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sim.AddClient(oktasim.ClientSpec{ClientID: refreshApp, GrantTypes: []string{oktasim.GrantPassword, oktasim.GrantRefreshToken}}); err != nil {
		t.Fatal(err)
	}
	hook, err := sim.AddHook(oktasim.HookSpec{Name: "patients", Type: oktasim.HookTypeToken, Version: "1.0.0", Channel: oktasim.Channel{
		Type: "HTTP", Version: "1.0.0", URI: srv.URL + hookserver.DefaultPath,
		AuthScheme: &oktasim.AuthScheme{Type: "HEADER", Key: hookserver.DefaultAuthHeader, Value: refreshSecret},
	}})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := sim.PolicyByName(oktasim.DefaultAuthServerID, oktasim.DefaultPolicyName)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := sim.RuleByName(oktasim.DefaultAuthServerID, policy.ID, oktasim.DefaultRuleName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.UpdateRule(oktasim.DefaultAuthServerID, policy.ID, rule.ID, func(r *oktasim.Rule) {
		r.Token.InlineHookID = hook.ID
		r.Conditions.GrantTypes = append(r.Conditions.GrantTypes, oktasim.GrantRefreshToken)
	}); err != nil {
		t.Fatal(err)
	}
	return sim
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

func tokenRequest(t *testing.T, sim *oktasim.Sim, form url.Values) tokens {
	t.Helper()
	form.Set("client_id", refreshApp)
	r := httptest.NewRequest(http.MethodPost, "http://org.example/oauth2/default/v1/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	sim.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("token request %s = %d %s", form.Get("grant_type"), w.Code, w.Body)
	}
	var out tokens
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// patientClaims returns the patient ID claim of each token ("" when absent), after checking
// the signatures.
func patientClaims(t *testing.T, sim *oktasim.Sim, tt tokens) map[string]any {
	t.Helper()
	key, err := sim.SigningKey(oktasim.DefaultAuthServerID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for kind, raw := range map[string]string{"ID": tt.IDToken, "access": tt.AccessToken} {
		tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatalf("%s token: %v", kind, err)
		}
		var claims map[string]any
		if err := tok.Claims(key, &claims); err != nil {
			t.Fatalf("%s token: %v", kind, err)
		}
		out[kind] = claims[hookserver.DefaultClaim]
	}
	return out
}

func TestRefreshGrantIsAnsweredLikeAFirstGrant(t *testing.T) {
	pts := &livePatients{}
	pts.set(t, "login,patientID\nalice@example.com,P-1\nbob@example.com,P-2\n")
	sim := refreshOrg(t, pts)

	cases := map[string]struct {
		login        string
		atLogin      any // the claim in both tokens at login
		afterRemoval any // the claim in both tokens on refresh, once bob left the list
	}{
		"still on the patient list":         {login: "alice@example.com", atLogin: "P-1", afterRemoval: "P-1"},
		"removed from the list since login": {login: "bob@example.com", atLogin: "P-2", afterRemoval: nil},
	}
	refreshTokens := map[string]string{}
	for name, tc := range cases {
		login := tokenRequest(t, sim, url.Values{"grant_type": {"password"}, "username": {tc.login},
			"password": {refreshPass}, "scope": {"openid profile offline_access"}})
		if login.RefreshToken == "" {
			t.Fatalf("%s: no refresh token", name)
		}
		for kind, got := range patientClaims(t, sim, login) {
			if got != tc.atLogin {
				t.Errorf("%s: login %s token claim = %v, want %v", name, kind, got, tc.atLogin)
			}
		}
		refreshTokens[name] = login.RefreshToken
	}

	pts.set(t, "login,patientID\nalice@example.com,P-1\n") // bob leaves the list
	sim.ResetHookCalls()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			refreshed := tokenRequest(t, sim, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshTokens[name]}})
			for kind, got := range patientClaims(t, sim, refreshed) {
				if got != tc.afterRemoval {
					t.Errorf("refreshed %s token claim = %v, want %v", kind, got, tc.afterRemoval)
				}
			}
		})
	}
	calls := sim.HookCalls()
	outcomes := map[string]int{}
	for _, c := range calls {
		outcomes[c.Outcome]++
	}
	// One refresh patched (200), one issued unpatched (the handler's 204 for a non-patient).
	if len(calls) != 2 || outcomes[oktasim.HookApplied] != 1 || outcomes[oktasim.HookSkipped] != 1 {
		t.Errorf("hook calls on refresh = %+v", calls)
	}
}

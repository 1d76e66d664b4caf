package oktasim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	orgURL       = "http://org.example"
	patientLogin = "alice@example.com"
	patientPass  = "correct horse"
	publicApp    = "0oapublicapp"
	serviceApp   = "0oaserviceapp"
	serviceKey   = "service secret"
	hookSecret   = "Basic YWRtaW46c3VwZXJzZWNyZXQ="
	hookHeader   = "X-Other-Header"
	hookHeaderV  = "some-other-value"
	testTimeout  = time.Second // well above a token fetch and a hook call under -race on 2 busy cores
)

// hookRequest is what the test hook server received.
type hookRequest struct {
	Header http.Header
	Body   []byte
}

// testHook is a TLS token inline hook whose answer each test sets.
type testHook struct {
	srv    *httptest.Server
	mu     sync.Mutex
	answer http.HandlerFunc
	reqs   []hookRequest
}

func newTestHook(t *testing.T) *testHook {
	t.Helper()
	h := &testHook{}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, hookRequest{Header: r.Header.Clone(), Body: body})
		answer := h.answer
		h.mu.Unlock()
		if answer == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body)) // for an answer that reads it too
		answer(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *testHook) set(answer http.HandlerFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answer, h.reqs = answer, nil
}

func (h *testHook) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

// reply answers 200 with body.
func reply(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

// testCustomScopes are the custom scopes newMintEnv defines on the default authorization server.
var testCustomScopes = []string{"api", "api:read", "patients.read"}

// mintEnv is an org with a patient, a public and a confidential client, and the test hook on
// the default rule.
type mintEnv struct {
	sim     *Sim
	hook    *testHook
	hookID  string
	user    User
	policy  Policy
	rule    Rule
	service ClientSpec
}

func newMintEnv(t *testing.T) *mintEnv {
	t.Helper()
	return newMintEnvWith(t, Options{})
}

// newMintEnvWith is newMintEnv with more options (Now, Seed, …).
func newMintEnvWith(t *testing.T, opts Options) *mintEnv {
	t.Helper()
	hook := newTestHook(t)
	opts.Token, opts.HookClient, opts.HookTimeout = token, hook.srv.Client(), testTimeout
	s := New(opts)
	for _, sc := range testCustomScopes {
		if err := s.AddScope(DefaultAuthServerID, sc); err != nil {
			t.Fatal(err)
		}
	}
	u, err := s.AddUser(UserSpec{Login: patientLogin, Password: patientPass, FirstName: "Alice", LastName: "Liddell", Locale: "en", TimeZone: "Europe/London"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddClient(ClientSpec{ClientID: publicApp, Name: "Native client"}); err != nil {
		t.Fatal(err)
	}
	svc := ClientSpec{ClientID: serviceApp, ClientSecret: serviceKey, Name: "Service", GrantTypes: []string{GrantClientCredentials, GrantPassword}}
	if err := s.AddClient(svc); err != nil {
		t.Fatal(err)
	}
	h, err := s.AddHook(HookSpec{Name: "patients", Type: HookTypeToken, Version: "1.0.0", Channel: Channel{
		Type: "HTTP", Version: "1.0.0", URI: hook.srv.URL + "/tokenHook",
		Headers:    []Header{{Key: hookHeader, Value: hookHeaderV}},
		AuthScheme: &AuthScheme{Type: "HEADER", Key: "Authorization", Value: hookSecret},
	}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.PolicyByName(DefaultAuthServerID, DefaultPolicyName)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.RuleByName(DefaultAuthServerID, p.ID, DefaultRuleName)
	if err != nil {
		t.Fatal(err)
	}
	r, err = s.UpdateRule(DefaultAuthServerID, p.ID, r.ID, func(r *Rule) { r.Token.InlineHookID = h.ID })
	if err != nil {
		t.Fatal(err)
	}
	return &mintEnv{sim: s, hook: hook, hookID: h.ID, user: u, policy: p, rule: r, service: svc}
}

// password is a password grant of the public client.
func password(scope string) url.Values {
	return url.Values{"grant_type": {"password"}, "client_id": {publicApp}, "username": {patientLogin},
		"password": {patientPass}, "scope": {scope}}
}

func clientCredentials(scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
}

// tokenCall posts form to the default authorization server's token endpoint; basic, if given,
// is client_id and client_secret for HTTP Basic.
func tokenCall(t *testing.T, s *Sim, form url.Values, basic ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, orgURL+"/oauth2/default/v1/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		r.SetBasicAuth(basic[0], basic[1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

type tokenBody struct {
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
	IDToken     string `json:"id_token"`
}

type oauthErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func okTokens(t *testing.T, w *httptest.ResponseRecorder) tokenBody {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("token status = %d, body %s", w.Code, w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	return decodeJSON[tokenBody](t, w)
}

// verify checks the JWT's signature against the authorization server's JWKS, and iss, aud and
// exp, and returns its claims.
func verify(t *testing.T, s *Sim, raw, audience string) map[string]any {
	t.Helper()
	w := call(t, s, http.MethodGet, orgURL+"/oauth2/default/v1/keys", "")
	if w.Code != http.StatusOK {
		t.Fatalf("keys: %d %s", w.Code, w.Body)
	}
	keys := decodeJSON[jose.JSONWebKeySet](t, w)
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	if kid := tok.Headers[0].KeyID; len(keys.Key(kid)) != 1 {
		t.Fatalf("kid %q not in the JWKS", kid)
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(keys, &std, &all); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: orgURL + "/oauth2/default", AnyAudience: jwt.Audience{audience}, Time: time.Now()}, 0); err != nil {
		t.Fatalf("claims: %v (%v)", err, all)
	}
	if std.Expiry == nil || std.IssuedAt == nil {
		t.Fatalf("no exp or iat: %v", all)
	}
	return all
}

// decodeEvent decodes a hook call's body with the simulator's own wire types.
func decodeEvent(t *testing.T, body []byte) hookEvent {
	t.Helper()
	var e hookEvent
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decode event: %v", err)
	}
	return e
}

func lifetime(claims map[string]any) int64 {
	return int64(claims["exp"].(float64) - claims["iat"].(float64))
}

func TestMintPatchesLikeOkta(t *testing.T) {
	env := newMintEnv(t)
	big := `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/pad","value":"` + strings.Repeat("x", maxHookResponse) + `"}]}]}`
	cases := map[string]struct {
		scope   string
		answer  http.HandlerFunc
		outcome string
		aud     string // of the access token; "" is api://default
		// want checks the verified claims of the ID token (nil if none is minted) and of the
		// access token, and the response.
		want func(t *testing.T, id, at map[string]any, body tokenBody)
	}{
		"patient claim added to the ID token": {
			scope:   "openid profile",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1235"}]}]}`),
			outcome: HookApplied,
			want: func(t *testing.T, id, at map[string]any, _ tokenBody) {
				if id["patientID"] != "1235" {
					t.Errorf("ID token patientID = %v", id["patientID"])
				}
				if _, ok := at["patientID"]; ok {
					t.Error("the access token got the ID token's claim")
				}
			},
		},
		"both tokens, any JSON value, remove and lifetime": {
			scope: "openid profile email",
			answer: reply(`{"commands":[
				{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/token/lifetime/expiration","value":36000},
					{"op":"remove","path":"/claims/email"}]},
				{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/beers","value":["Heineken",{"abv":5.0}]},
					{"op":"add","path":"/claims/n","value":12345678901234567890},
					{"op":"replace","path":"/claims/sub","value":"patient-7"},
					{"op":"replace","path":"/claims/aud","value":"api://patients"}]}]}`),
			outcome: HookApplied,
			aud:     "api://patients",
			want: func(t *testing.T, id, at map[string]any, body tokenBody) {
				if lifetime(id) != 36000 || lifetime(at) != 3600 || body.ExpiresIn != 3600 {
					t.Errorf("lifetimes: ID %d, access %d, expires_in %d", lifetime(id), lifetime(at), body.ExpiresIn)
				}
				if _, ok := id["email"]; ok {
					t.Error("email not removed")
				}
				if b, _ := json.Marshal(at["beers"]); string(b) != `["Heineken",{"abv":5}]` {
					t.Errorf("beers = %s", b)
				}
				if at["sub"] != "patient-7" || at["aud"] != "api://patients" {
					t.Errorf("sub, aud = %v, %v", at["sub"], at["aud"])
				}
			},
		},
		"exact numbers": {
			scope:   "api",
			answer:  reply(`{"commands":[{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/n","value":12345678901234567890}]}]}`),
			outcome: HookApplied,
			want: func(t *testing.T, _, _ map[string]any, body tokenBody) {
				payload, err := base64.RawURLEncoding.DecodeString(strings.Split(body.AccessToken, ".")[1])
				if err != nil || !strings.Contains(string(payload), `"n":12345678901234567890`) {
					t.Errorf("payload %s, %v", payload, err)
				}
			},
		},
		"access lifetime within range": {
			scope:   "api",
			answer:  reply(`{"commands":[{"type":"com.okta.access.patch","value":[{"op":"replace","path":"/token/lifetime/expiration","value":300}]}]}`),
			outcome: HookApplied,
			want: func(t *testing.T, _, at map[string]any, body tokenBody) {
				if lifetime(at) != 300 || body.ExpiresIn != 300 {
					t.Errorf("access lifetime %d, expires_in %d, want 300", lifetime(at), body.ExpiresIn)
				}
			},
		},
		"nested paths into existing objects and arrays": {
			scope: "openid",
			answer: reply(`{"commands":[{"type":"com.okta.identity.patch","value":[
				{"op":"add","path":"/claims/profile","value":{"dept":"x","airports":["SFO","LHR"]}},
				{"op":"replace","path":"/claims/profile/dept","value":"cardiology"},
				{"op":"add","path":"/claims/profile/airports/-","value":"JFK"},
				{"op":"add","path":"/claims/profile/airports/0","value":"CDG"},
				{"op":"remove","path":"/claims/profile/airports/1"},
				{"op":"add","path":"/claims/a~1b","value":1}]}]}`),
			outcome: HookApplied,
			want: func(t *testing.T, id, _ map[string]any, _ tokenBody) {
				if b, _ := json.Marshal(id["profile"]); string(b) != `{"airports":["CDG","LHR","JFK"],"dept":"cardiology"}` {
					t.Errorf("profile = %s", b)
				}
				if id["a/b"] != float64(1) {
					t.Errorf("a/b = %v", id["a/b"])
				}
			},
		},
		"204 leaves the tokens unpatched": {
			scope:   "openid",
			answer:  func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) },
			outcome: HookSkipped,
		},
		"non-200 with commands leaves the tokens unpatched": {
			scope: "openid",
			answer: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusCreated)
				_, _ = io.WriteString(w, `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1"}]}]}`)
			},
			outcome: HookSkipped,
		},
		"500 leaves the tokens unpatched": {
			scope:   "openid",
			answer:  func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
			outcome: HookSkipped,
		},
		"a redirect is not followed": {
			scope: "openid",
			answer: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/moved" {
					reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1"}]}]}`)(w, r)
					return
				}
				http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect)
			},
			outcome: HookSkipped,
		},
		"timeout leaves the tokens unpatched": {
			scope: "openid",
			answer: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(3 * testTimeout):
				case <-r.Context().Done():
				}
				reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1"}]}]}`)(w, r)
			},
			outcome: HookFailed,
		},
		"unparsable JSON leaves the tokens unpatched": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1"}]}]`),
			outcome: HookFailed,
		},
		"a body of 256 KB leaves the tokens unpatched": {
			scope:   "openid",
			answer:  reply(big),
			outcome: HookFailed,
		},
		"a reserved claim voids the whole patch": {
			scope: "openid",
			answer: reply(`{"commands":[
				{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/patientID","value":"1"}]},
				{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1"},{"op":"add","path":"/claims/nonce","value":"x"}]}]}`),
			outcome: HookFailed,
		},
		"sub cannot be replaced in the ID token": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/claims/sub","value":"x"}]}]}`),
			outcome: HookFailed,
		},
		"sub cannot be removed from the access token": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.access.patch","value":[{"op":"remove","path":"/claims/sub"}]}]}`),
			outcome: HookFailed,
		},
		"a command for a token not minted voids the patch": {
			scope: "api",
			answer: reply(`{"commands":[
				{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/patientID","value":"1"}]},
				{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1"}]}]}`),
			outcome: HookFailed,
		},
		"an unknown command type voids the patch": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.refresh.patch","value":[]}]}`),
			outcome: HookFailed,
		},
		"lifetime out of range voids the patch": {
			scope: "openid",
			answer: reply(`{"commands":[{"type":"com.okta.access.patch","value":[
				{"op":"add","path":"/claims/patientID","value":"1"},{"op":"replace","path":"/token/lifetime/expiration","value":86401}]}]}`),
			outcome: HookFailed,
		},
		"lifetime below range voids the patch": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/token/lifetime/expiration","value":299}]}]}`),
			outcome: HookFailed,
		},
		"lifetime must be an integer": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/token/lifetime/expiration","value":"600"}]}]}`),
			outcome: HookFailed,
		},
		"lifetime is replaced, not added": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/token/lifetime/expiration","value":600}]}]}`),
			outcome: HookFailed,
		},
		"a nested path into a missing parent voids the patch": {
			scope: "openid",
			answer: reply(`{"commands":[{"type":"com.okta.identity.patch","value":[
				{"op":"add","path":"/claims/patientID","value":"1"},{"op":"add","path":"/claims/profile/dept","value":"x"}]}]}`),
			outcome: HookFailed,
		},
		"an array index out of range voids the patch": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/amr/5","value":"x"}]}]}`),
			outcome: HookFailed,
		},
		"replacing a missing claim voids the patch": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/claims/patientID","value":"1"}]}]}`),
			outcome: HookFailed,
		},
		"remove with a value voids the patch": {
			scope:   "openid profile",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"remove","path":"/claims/name","value":"x"}]}]}`),
			outcome: HookFailed,
		},
		"a path outside /claims voids the patch": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/scopes/x","value":"x"}]}]}`),
			outcome: HookFailed,
		},
		"an unknown op voids the patch": {
			scope:   "openid",
			answer:  reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"copy","path":"/claims/x","value":"x"}]}]}`),
			outcome: HookFailed,
		},
		"no commands": {
			scope:   "openid",
			answer:  reply(`{"commands":[]}`),
			outcome: HookApplied,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env.sim.ResetHookCalls()
			env.hook.set(tc.answer)
			w := tokenCall(t, env.sim, password(tc.scope))
			body := okTokens(t, w)
			aud := tc.aud
			if aud == "" {
				aud = "api://default"
			}
			at := verify(t, env.sim, body.AccessToken, aud)
			var id map[string]any
			if strings.Contains(tc.scope, "openid") {
				id = verify(t, env.sim, body.IDToken, publicApp)
			} else if body.IDToken != "" {
				t.Error("an ID token without the openid scope")
			}
			calls := env.sim.HookCalls()
			t.Logf("hook calls: %+v", calls)
			if len(calls) != 1 || calls[0].Outcome != tc.outcome || calls[0].HookID != env.hookID || calls[0].RuleID != env.rule.ID {
				t.Fatalf("hook calls = %+v, want one %s", calls, tc.outcome)
			}
			if n := len(env.hook.requests()); n != 1 {
				t.Errorf("the hook got %d requests, want 1 (no retry)", n)
			}
			if tc.outcome != HookApplied {
				if calls[0].Reason == "" {
					t.Error("no reason for a hook that was not applied")
				}
				// Unpatched: exactly what Okta would have signed without a hook.
				if _, ok := id["patientID"]; ok {
					t.Error("ID token patched")
				}
				if _, ok := at["patientID"]; ok {
					t.Error("access token patched")
				}
				if lifetime(at) != 3600 || (id != nil && lifetime(id) != 3600) {
					t.Error("lifetime patched")
				}
			}
			if tc.outcome == HookFailed && strings.HasPrefix(name, "timeout") && calls[0].Duration > 2*testTimeout {
				t.Errorf("the timeout took %s", calls[0].Duration)
			}
			if tc.want != nil {
				tc.want(t, id, at, body)
			}
		})
	}
}

func TestMintHookErrorFailsTheRequest(t *testing.T) {
	env := newMintEnv(t)
	cases := map[string]struct{ answer, want string }{
		"summary":    {`{"error":{"errorSummary":"Patient record locked"},"commands":[]}`, "Patient record locked"},
		"no summary": {`{"error":{}}`, "The callback service returned an error"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env.hook.set(reply(tc.answer))
			w := tokenCall(t, env.sim, password("openid"))
			got := decodeJSON[oauthErrorBody](t, w)
			if w.Code != http.StatusBadRequest || got.Error != "server_error" || got.Description != tc.want {
				t.Fatalf("token = %d %+v, want server_error %q", w.Code, got, tc.want)
			}
			if strings.Contains(w.Body.String(), "access_token") {
				t.Error("tokens issued")
			}
			if c := env.sim.HookCalls(); c[len(c)-1].Outcome != HookDenied {
				t.Errorf("outcome = %+v", c[len(c)-1])
			}
		})
	}
}

func TestMintHookRequest(t *testing.T) {
	env := newMintEnv(t)
	env.hook.set(reply(`{"commands":[]}`))
	w := tokenCall(t, env.sim, password("openid profile email"))
	okTokens(t, w)
	reqs := env.hook.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d hook requests", len(reqs))
	}
	h := reqs[0].Header
	for k, v := range map[string]string{"Authorization": hookSecret, hookHeader: hookHeaderV, "Content-Type": "application/json", "Accept": "application/json"} {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}

	// Every field SPEC 1 lists, by JSON path ("*" for any key).
	var raw map[string]any
	if err := json.Unmarshal(reqs[0].Body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"source", "eventId", "eventTime", "eventTypeVersion", "cloudEventVersion", "contentType", "eventType",
		"data.context.request.id", "data.context.request.method", "data.context.request.url.value", "data.context.request.ipAddress",
		"data.context.protocol.type", "data.context.protocol.request.client_id", "data.context.protocol.request.grant_type",
		"data.context.protocol.request.scope", "data.context.protocol.issuer.uri",
		"data.context.protocol.client.id", "data.context.protocol.client.name", "data.context.protocol.client.type",
		"data.context.session.id", "data.context.session.userId", "data.context.session.login", "data.context.session.createdAt",
		"data.context.session.expiresAt", "data.context.session.status", "data.context.session.lastPasswordVerification",
		"data.context.session.amr", "data.context.session.idp.id", "data.context.session.idp.type", "data.context.session.mfaActive",
		"data.context.user.id", "data.context.user.passwordChanged", "data.context.user.profile.login",
		"data.context.user.profile.firstName", "data.context.user.profile.lastName", "data.context.user.profile.locale",
		"data.context.user.profile.timeZone", "data.context.user._links.groups.href", "data.context.user._links.factors.href",
		"data.context.policy.id", "data.context.policy.rule.id",
		"data.identity.claims.sub", "data.identity.claims.name", "data.identity.claims.email", "data.identity.claims.ver",
		"data.identity.claims.iss", "data.identity.claims.aud", "data.identity.claims.jti", "data.identity.claims.amr",
		"data.identity.claims.idp", "data.identity.claims.preferred_username", "data.identity.claims.auth_time",
		"data.identity.token.lifetime.expiration",
		"data.access.claims.ver", "data.access.claims.jti", "data.access.claims.iss", "data.access.claims.aud",
		"data.access.claims.cid", "data.access.claims.uid", "data.access.claims.sub",
		"data.access.token.lifetime.expiration", "data.access.scopes.openid.id", "data.access.scopes.openid.action",
	} {
		if !hasPath(raw, path) {
			t.Errorf("event has no %s", path)
		}
	}

	e := decodeEvent(t, reqs[0].Body)
	ctx := e.Data.Context
	iss := orgURL + "/oauth2/default"
	checks := map[string][2]any{
		"eventType":         {e.EventType, HookTypeToken},
		"eventTypeVersion":  {e.EventTypeVersion, "1.0"},
		"cloudEventVersion": {e.CloudEventVersion, "0.1"},
		"contentType":       {e.ContentType, "application/json"},
		"source":            {e.Source, iss + "/v1/token"},
		"request.id":        {ctx.Request.ID, w.Header().Get("X-Okta-Request-Id")},
		"request.method":    {ctx.Request.Method, "POST"},
		"request.url":       {ctx.Request.URL.Value, iss + "/v1/token"},
		"request.ipAddress": {ctx.Request.IPAddress, "192.0.2.1"},
		"protocol.type":     {ctx.Protocol.Type, "OAUTH2.0"},
		"client_id":         {ctx.Protocol.Request.ClientID, publicApp},
		"grant_type":        {ctx.Protocol.Request.GrantType, "password"},
		"scope":             {ctx.Protocol.Request.Scope, "openid profile email"},
		"issuer":            {ctx.Protocol.Issuer.URI, iss},
		"client":            {ctx.Protocol.Client, eventClient{ID: publicApp, Name: "Native client", Type: "PUBLIC"}},
		"session.userId":    {ctx.Session.UserID, env.user.ID},
		"session.login":     {ctx.Session.Login, patientLogin},
		"session.status":    {ctx.Session.Status, "ACTIVE"},
		"user.profile":      {ctx.User.Profile, eventUserProfile{Login: patientLogin, FirstName: "Alice", LastName: "Liddell", Locale: "en", TimeZone: "Europe/London"}},
		"user.id":           {ctx.User.ID, env.user.ID},
		"policy":            {*ctx.Policy, eventPolicy{ID: env.policy.ID, Rule: eventRef{ID: env.rule.ID}}},
		"minted":            {e.Data.Identity != nil && e.Data.Access != nil, true},
		"id sub":            {e.Data.Identity.Claims["sub"], env.user.ID},
		"id aud":            {e.Data.Identity.Claims["aud"], publicApp},
		"id iss":            {e.Data.Identity.Claims["iss"], iss},
		"id username":       {e.Data.Identity.Claims["preferred_username"], patientLogin},
		"id name":           {e.Data.Identity.Claims["name"], "Alice Liddell"},
		"id lifetime":       {e.Data.Identity.Token.Lifetime.Expiration, int64(3600)},
		"access sub":        {e.Data.Access.Claims["sub"], patientLogin},
		"access aud":        {e.Data.Access.Claims["aud"], "api://default"},
		"access cid":        {e.Data.Access.Claims["cid"], publicApp},
		"access uid":        {e.Data.Access.Claims["uid"], env.user.ID},
		"access lifetime":   {e.Data.Access.Token.Lifetime.Expiration, int64(3600)},
		"scopes":            {len(e.Data.Access.Scopes), 3},
		"scope action":      {e.Data.Access.Scopes["email"].Action, "GRANT"},
		"scope id":          {e.Data.Access.Scopes["email"].ID[:3], "scp"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
	if _, err := time.Parse(time.RFC3339, e.EventTime); err != nil {
		t.Errorf("eventTime %q: %v", e.EventTime, err)
	}
	// iat and exp come at signing, from the lifetime.
	for _, claim := range []string{"iat", "exp"} {
		if _, ok := e.Data.Identity.Claims[claim]; ok {
			t.Errorf("the event's ID token claims carry %s", claim)
		}
	}
}

func TestMintClientCredentials(t *testing.T) {
	env := newMintEnv(t)
	env.hook.set(reply(`{"commands":[{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/tenant","value":"t1"}]}]}`))
	for name, auth := range map[string]func(url.Values) []string{
		"basic": func(url.Values) []string { return []string{serviceApp, serviceKey} },
		"post": func(f url.Values) []string {
			f.Set("client_id", serviceApp)
			f.Set("client_secret", serviceKey)
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			env.hook.set(reply(`{"commands":[{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/tenant","value":"t1"}]}]}`))
			form := clientCredentials("api:read")
			body := okTokens(t, tokenCall(t, env.sim, form, auth(form)...))
			if body.IDToken != "" || body.Scope != "api:read" || body.TokenType != "Bearer" {
				t.Errorf("body = %+v", body)
			}
			at := verify(t, env.sim, body.AccessToken, "api://default")
			if at["sub"] != serviceApp || at["cid"] != serviceApp || at["tenant"] != "t1" {
				t.Errorf("access claims = %v", at)
			}
			if _, ok := at["uid"]; ok {
				t.Error("uid without a user")
			}
			reqs := env.hook.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d hook requests", len(reqs))
			}
			var raw map[string]any
			_ = json.Unmarshal(reqs[0].Body, &raw)
			for _, path := range []string{"data.context.user", "data.context.session", "data.identity"} {
				if hasPath(raw, path) {
					t.Errorf("client_credentials event has %s", path)
				}
			}
			e := decodeEvent(t, reqs[0].Body)
			if e.Data.Context.User != nil || e.Data.Context.Protocol.Request.GrantType != "client_credentials" || e.Data.Context.Protocol.Client.Type != ClientTypeConfidential {
				t.Errorf("event = %+v", e.Data.Context.Protocol)
			}
		})
	}
}

func TestMintHookNotCalled(t *testing.T) {
	cases := map[string]func(t *testing.T, env *mintEnv){
		"INACTIVE hook": func(t *testing.T, env *mintEnv) {
			if _, err := env.sim.UpdateHook(env.hookID, func(h *Hook) { h.Status = StatusInactive }); err != nil {
				t.Fatal(err)
			}
		},
		"rule without a hook": func(t *testing.T, env *mintEnv) {
			if _, err := env.sim.UpdateRule(DefaultAuthServerID, env.policy.ID, env.rule.ID, func(r *Rule) { r.Token.InlineHookID = "" }); err != nil {
				t.Fatal(err)
			}
		},
		"hook removed behind the rule's back": func(t *testing.T, env *mintEnv) {
			env.sim.RemoveHook(env.hookID)
		},
	}
	for name, arrange := range cases {
		t.Run(name, func(t *testing.T) {
			env := newMintEnv(t)
			env.hook.set(reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1"}]}]}`))
			arrange(t, env)
			body := okTokens(t, tokenCall(t, env.sim, password("openid")))
			if id := verify(t, env.sim, body.IDToken, publicApp); id["patientID"] != nil {
				t.Error("patched")
			}
			if n := len(env.hook.requests()); n != 0 || len(env.sim.HookCalls()) != 0 {
				t.Errorf("hook called %d times, calls %v", n, env.sim.HookCalls())
			}
		})
	}
}

func TestMintRuleSelection(t *testing.T) {
	// Rules are told apart by their access token lifetime.
	type ruleDef struct {
		lifetime int
		grants   []string
		scopes   []string
		users    []string // "patient" is the test user
		groups   []string
		exclude  []string
		inactive bool
	}
	type policyDef struct {
		clients  []string
		inactive bool
		rules    []ruleDef
	}
	everyone := []string{"EVERYONE"}
	pw := []string{"password"}
	cases := map[string]struct {
		policies []policyDef
		form     url.Values
		basic    []string
		want     int // lifetime in minutes; 0: access_denied
	}{
		"first rule by priority": {
			policies: []policyDef{{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"*"}, groups: everyone}, {lifetime: 20, grants: pw, scopes: []string{"*"}, groups: everyone}}}},
			form:     password("openid"), want: 10,
		},
		"scopes not all covered skip a rule": {
			policies: []policyDef{{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"openid"}, groups: everyone}, {lifetime: 20, grants: pw, scopes: []string{"openid", "email"}, groups: everyone}}}},
			form:     password("openid email"), want: 20,
		},
		"grant type not included skips a rule": {
			policies: []policyDef{{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: []string{"client_credentials"}, scopes: []string{"*"}, groups: everyone}, {lifetime: 20, grants: pw, scopes: []string{"*"}, groups: everyone}}}},
			form:     password("openid"), want: 20,
		},
		"client_credentials picks its rule": {
			policies: []policyDef{{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"*"}, groups: everyone}, {lifetime: 20, grants: []string{"client_credentials"}, scopes: []string{"api"}, groups: everyone}}}},
			form:     clientCredentials("api"), basic: []string{serviceApp, serviceKey}, want: 20,
		},
		"INACTIVE rule skipped": {
			policies: []policyDef{{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"*"}, groups: everyone, inactive: true}, {lifetime: 20, grants: pw, scopes: []string{"*"}, groups: everyone}}}},
			form:     password("openid"), want: 20,
		},
		"policy for another client skipped": {
			policies: []policyDef{
				{clients: []string{serviceApp}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"*"}, groups: everyone}}},
				{clients: []string{publicApp}, rules: []ruleDef{{lifetime: 20, grants: pw, scopes: []string{"*"}, groups: everyone}}},
			},
			form: password("openid"), want: 20,
		},
		"INACTIVE policy skipped": {
			policies: []policyDef{
				{clients: []string{"ALL_CLIENTS"}, inactive: true, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"*"}, groups: everyone}}},
				{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 20, grants: pw, scopes: []string{"*"}, groups: everyone}}},
			},
			form: password("openid"), want: 20,
		},
		"no rule in the first policy: the next policy": {
			policies: []policyDef{
				{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"email"}, groups: everyone}}},
				{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 20, grants: pw, scopes: []string{"*"}, groups: everyone}}},
			},
			form: password("openid"), want: 20,
		},
		"user included by ID": {
			policies: []policyDef{{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"*"}, groups: []string{"00gnobody"}}, {lifetime: 20, grants: pw, scopes: []string{"*"}, users: []string{"patient"}}}}},
			form:     password("openid"), want: 20,
		},
		"user in an included group": {
			policies: []policyDef{{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"*"}, groups: []string{"patients"}}}}},
			form:     password("openid"), want: 10,
		},
		"user excluded": {
			policies: []policyDef{{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"*"}, groups: everyone, exclude: []string{"patient"}}, {lifetime: 20, grants: pw, scopes: []string{"*"}, groups: everyone}}}},
			form:     password("openid"), want: 20,
		},
		"no matching rule: access_denied": {
			policies: []policyDef{{clients: []string{"ALL_CLIENTS"}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"openid"}, groups: everyone}}}},
			form:     password("openid email"),
		},
		"no policy for the client: access_denied": {
			policies: []policyDef{{clients: []string{serviceApp}, rules: []ruleDef{{lifetime: 10, grants: pw, scopes: []string{"*"}, groups: everyone}}}},
			form:     password("openid"),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := New(Options{Token: token})
			u, err := s.AddUser(UserSpec{Login: patientLogin, Password: patientPass})
			if err != nil {
				t.Fatal(err)
			}
			g, err := s.AddGroup("patients", u.ID)
			if err != nil {
				t.Fatal(err)
			}
			ids := func(names []string) []string {
				out := []string{}
				for _, n := range names {
					switch n {
					case "patient":
						n = u.ID
					case "patients":
						n = g.ID
					}
					out = append(out, n)
				}
				return out
			}
			_ = s.AddClient(ClientSpec{ClientID: publicApp})
			_ = s.AddClient(ClientSpec{ClientID: serviceApp, ClientSecret: serviceKey})
			_ = s.AddScope(DefaultAuthServerID, "api")
			// Replace the default policy.
			def, _ := s.PolicyByName(DefaultAuthServerID, DefaultPolicyName)
			if err := s.org.deletePolicy(DefaultAuthServerID, def.ID); err != nil {
				t.Fatal(err)
			}
			for i, pd := range tc.policies {
				p, err := s.AddPolicy(DefaultAuthServerID, PolicySpec{Name: "p" + string(rune('0'+i)), Clients: pd.clients})
				if err != nil {
					t.Fatal(err)
				}
				if pd.inactive {
					_ = s.org.setPolicyStatus(DefaultAuthServerID, p.ID, StatusInactive)
				}
				for j, rd := range pd.rules {
					spec := RuleSpec{Name: "r" + string(rune('0'+j)), Conditions: RuleConditions{
						Users: IncludeExclude{Include: ids(rd.users), Exclude: ids(rd.exclude)}, Groups: IncludeExclude{Include: ids(rd.groups)},
						GrantTypes: rd.grants, Scopes: rd.scopes}, Token: TokenActions{AccessTokenLifetimeMinutes: rd.lifetime}}
					if rd.inactive {
						spec.Status = StatusInactive
					}
					if _, err := s.AddRule(DefaultAuthServerID, p.ID, spec); err != nil {
						t.Fatal(err)
					}
				}
			}
			w := tokenCall(t, s, tc.form, tc.basic...)
			if tc.want == 0 {
				got := decodeJSON[oauthErrorBody](t, w)
				if w.Code != http.StatusBadRequest || got.Error != "access_denied" || got.Description != descPolicyFailed {
					t.Fatalf("token = %d %+v, want access_denied", w.Code, got)
				}
				return
			}
			if body := okTokens(t, w); body.ExpiresIn != int64(tc.want*60) {
				t.Errorf("expires_in = %d, want the rule with %d minutes", body.ExpiresIn, tc.want)
			}
		})
	}
}

func TestMintOAuthErrors(t *testing.T) {
	env := newMintEnv(t)
	with := func(f url.Values, kv ...string) url.Values {
		f = url.Values(cloneValues(f))
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	cases := map[string]struct {
		form   url.Values
		basic  []string
		status int
		error  string
	}{
		"bad password":              {form: with(password("openid"), "password", "wrong"), status: 400, error: "invalid_grant"},
		"unknown user":              {form: with(password("openid"), "username", "bob@example.com"), status: 400, error: "invalid_grant"},
		"login is case-insensitive": {form: with(password("openid"), "username", "ALICE@example.com"), status: 200},
		"no password":               {form: with(password("openid"), "password", ""), status: 400, error: "invalid_request"},
		"no grant_type":             {form: with(password("openid"), "grant_type", ""), status: 400, error: "invalid_request"},
		"no client_id":              {form: with(password("openid"), "client_id", ""), status: 401, error: "invalid_client"},
		"unknown client":            {form: with(password("openid"), "client_id", "0oanope"), status: 401, error: "invalid_client"},
		"confidential without":      {form: with(password("openid"), "client_id", serviceApp), status: 401, error: "invalid_client"},
		"wrong secret":              {form: with(password("openid"), "client_id", ""), basic: []string{serviceApp, "nope"}, status: 401, error: "invalid_client"},
		"confidential password":     {form: with(password("openid"), "client_id", ""), basic: []string{serviceApp, serviceKey}, status: 200},
		"public client with secret": {form: with(password("openid"), "client_secret", "x"), status: 401, error: "invalid_client"},
		"unsupported grant":         {form: with(password("openid"), "grant_type", "urn:ietf:params:oauth:grant-type:device_code"), status: 400, error: "unsupported_grant_type"},
		"public client_credentials": {form: with(clientCredentials("api"), "client_id", publicApp), status: 400, error: "unauthorized_client"},
		"no scope":                  {form: with(password(""), "scope", ""), status: 400, error: "invalid_scope"},
		"openid by client":          {form: clientCredentials("openid api"), basic: []string{serviceApp, serviceKey}, status: 400, error: "invalid_scope"},
		"refresh grant not allowed": {form: with(password("openid"), "grant_type", "refresh_token"), status: 400, error: "unauthorized_client"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := tokenCall(t, env.sim, tc.form, tc.basic...)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 200 {
				return
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			got := decodeJSON[oauthErrorBody](t, w)
			if got.Error != tc.error || got.Description == "" {
				t.Errorf("error = %+v, want %s", got, tc.error)
			}
		})
	}
	if n := len(env.hook.requests()); n != 2 {
		t.Errorf("hook called %d times, want 2 (the successful requests only)", n)
	}
	// The call log has the token requests, and never a credential.
	calls := env.sim.Calls()
	if n := env.sim.CountCalls(EndpointToken); n != len(cases) {
		t.Errorf("%d token calls logged, want %d", n, len(cases))
	}
	for _, c := range calls {
		if c.Query != "" || strings.Contains(c.Path, "secret") {
			t.Errorf("logged %+v", c)
		}
	}
}

func cloneValues(v url.Values) map[string][]string {
	out := map[string][]string{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

func TestMintDiscovery(t *testing.T) {
	s := New(Options{})
	iss := orgURL + "/oauth2/default"
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		w := call(t, s, http.MethodGet, iss+path, "", "Authorization", "")
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		m := decodeJSON[map[string]any](t, w)
		for k, want := range map[string]string{"issuer": iss, "token_endpoint": iss + "/v1/token", "jwks_uri": iss + "/v1/keys"} {
			if m[k] != want {
				t.Errorf("%s %s = %v, want %s", path, k, m[k], want)
			}
		}
		if gts, _ := m["grant_types_supported"].([]any); !slices.Contains(gts, any("password")) || !slices.Contains(gts, any("client_credentials")) {
			t.Errorf("%s grant_types_supported = %v", path, m["grant_types_supported"])
		}
	}
	w := call(t, s, http.MethodGet, iss+"/v1/keys", "", "Authorization", "")
	keys := decodeJSON[jose.JSONWebKeySet](t, w)
	if len(keys.Keys) != 1 {
		t.Fatalf("keys = %s", w.Body)
	}
	k := keys.Keys[0]
	if k.KeyID == "" || k.Algorithm != "RS256" || k.Use != "sig" || !k.IsPublic() || !k.Valid() {
		t.Errorf("key = %s", w.Body)
	}
	if strings.Contains(w.Body.String(), `"d"`) {
		t.Error("the JWKS has a private key")
	}
	other, err := s.AddAuthServer(AuthServerSpec{Name: "patients", Audiences: []string{"api://patients"}})
	if err != nil {
		t.Fatal(err)
	}
	w2 := call(t, s, http.MethodGet, orgURL+"/oauth2/"+other.ID+"/v1/keys", "", "Authorization", "")
	if k2 := decodeJSON[jose.JSONWebKeySet](t, w2); len(k2.Keys) != 1 || k2.Keys[0].KeyID == k.KeyID {
		t.Errorf("authorization servers share a key: %s", w2.Body)
	}
	for _, path := range []string{"/oauth2/nope/v1/keys", "/oauth2/nope/.well-known/openid-configuration", "/oauth2/nope/v1/token"} {
		method := http.MethodGet
		if strings.HasSuffix(path, "token") {
			method = http.MethodPost
		}
		if w := call(t, s, method, orgURL+path, "", "Authorization", ""); w.Code != http.StatusNotFound || oktaError(t, w).ErrorCode != CodeNotFound {
			t.Errorf("%s = %d %s", path, w.Code, w.Body)
		}
	}
}

// TestMintOverTheNetwork uses standard OAuth 2.0 clients against a served simulator, concurrently.
func TestMintOverTheNetwork(t *testing.T) {
	env := newMintEnv(t)
	env.hook.set(reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1235"}]}]}`))
	srv, err := env.sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	ctx := context.Background()
	iss := srv.URL + "/oauth2/default"
	resp, err := http.Get(iss + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	var keys jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&keys)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				conf := &oauth2.Config{ClientID: publicApp, Scopes: []string{"openid", "profile"},
					Endpoint: oauth2.Endpoint{TokenURL: iss + "/v1/token", AuthStyle: oauth2.AuthStyleInParams}}
				tok, err := conf.PasswordCredentialsToken(ctx, patientLogin, patientPass)
				if err != nil {
					t.Error(err)
					return
				}
				raw, _ := tok.Extra("id_token").(string)
				parsed, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
				if err != nil {
					t.Error(err)
					return
				}
				var c struct {
					jwt.Claims
					PatientID string `json:"patientID"`
				}
				if err := parsed.Claims(keys, &c); err != nil {
					t.Error(err)
					return
				}
				if err := c.Validate(jwt.Expected{Issuer: iss, AnyAudience: jwt.Audience{publicApp}, Subject: env.user.ID}); err != nil || c.PatientID != "1235" {
					t.Errorf("ID token %+v: %v", c, err)
				}
				return
			}
			conf := clientcredentials.Config{ClientID: serviceApp, ClientSecret: serviceKey, TokenURL: iss + "/v1/token", Scopes: []string{"api"}}
			tok, err := conf.Token(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if tok.AccessToken == "" || tok.Expiry.IsZero() {
				t.Errorf("token = %+v", tok)
			}
		}()
	}
	wg.Wait()
	if n := len(env.sim.HookCalls()); n != 4 {
		t.Errorf("%d hook calls, want 4", n)
	}
}

// hasPath reports whether decoded JSON has a dotted path.
func hasPath(v any, path string) bool {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

const redirectURI = "http://127.0.0.1:8080/callback"

// sessionToken signs the patient in with the Authentication API.
func sessionToken(t *testing.T, s *Sim) string {
	t.Helper()
	w := call(t, s, http.MethodPost, orgURL+"/api/v1/authn", `{"username":"`+patientLogin+`","password":"`+patientPass+`"}`, "Authorization", "")
	if w.Code != http.StatusOK {
		t.Fatalf("authn: %d %s", w.Code, w.Body)
	}
	got := decodeJSON[struct {
		Status       string `json:"status"`
		SessionToken string `json:"sessionToken"`
		Embedded     struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"_embedded"`
	}](t, w)
	if got.Status != "SUCCESS" || got.SessionToken == "" || got.Embedded.User.ID == "" {
		t.Fatalf("authn = %s", w.Body)
	}
	return got.SessionToken
}

func TestMintAuthorizationCode(t *testing.T) {
	env := newMintEnv(t)
	webApp := ClientSpec{ClientID: "0oawebapp", ClientSecret: "web secret", Name: "Web", RedirectURIs: []string{redirectURI}}
	if err := env.sim.AddClient(webApp); err != nil {
		t.Fatal(err)
	}
	spa := ClientSpec{ClientID: "0oaspa", Name: "SPA", RedirectURIs: []string{redirectURI}}
	if err := env.sim.AddClient(spa); err != nil {
		t.Fatal(err)
	}
	if err := env.sim.AddClient(ClientSpec{ClientID: "0oapasswordonly", RedirectURIs: []string{redirectURI}, GrantTypes: []string{"password"}}); err != nil {
		t.Fatal(err)
	}
	verifier := oauth2.GenerateVerifier()
	authorizeURL := func(client string, extra ...string) string {
		v := url.Values{"client_id": {client}, "response_type": {"code"}, "scope": {"openid profile"},
			"redirect_uri": {redirectURI}, "state": {"st4te"}, "nonce": {"n0nce"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "" {
				v.Del(extra[i])
			} else {
				v.Set(extra[i], extra[i+1])
			}
		}
		return orgURL + "/oauth2/default/v1/authorize?" + v.Encode()
	}
	// authorize returns the redirect's query, or nil and the recorder when there is none.
	authorize := func(t *testing.T, u string) (url.Values, *httptest.ResponseRecorder) {
		t.Helper()
		w := call(t, env.sim, http.MethodGet, u, "", "Authorization", "")
		if w.Code != http.StatusFound {
			return nil, w
		}
		loc, err := url.Parse(w.Header().Get("Location"))
		if err != nil || !strings.HasPrefix(loc.String(), redirectURI+"?") {
			t.Fatalf("Location = %q", w.Header().Get("Location"))
		}
		return loc.Query(), w
	}
	redeem := func(client, code string, extra ...string) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
			"client_id": {client}, "code_verifier": {verifier}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return f
	}

	t.Run("public client with PKCE, hook applied", func(t *testing.T) {
		env.hook.set(reply(`{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/patientID","value":"1235"}]}]}`))
		q, w := authorize(t, authorizeURL(spa.ClientID, "sessionToken", sessionToken(t, env.sim)))
		if q == nil || q.Get("code") == "" || q.Get("state") != "st4te" {
			t.Fatalf("authorize = %d %s %v", w.Code, w.Body, q)
		}
		if len(env.hook.requests()) != 0 {
			t.Error("the hook ran before the tokens were minted")
		}
		body := okTokens(t, tokenCall(t, env.sim, redeem(spa.ClientID, q.Get("code"))))
		id := verify(t, env.sim, body.IDToken, spa.ClientID)
		if id["patientID"] != "1235" || id["nonce"] != "n0nce" || id["sub"] != env.user.ID || body.Scope != "openid profile" {
			t.Errorf("ID token = %v, scope %q", id, body.Scope)
		}
		reqs := env.hook.requests()
		if len(reqs) != 1 {
			t.Fatalf("%d hook requests", len(reqs))
		}
		e := decodeEvent(t, reqs[0].Body)
		pr := e.Data.Context.Protocol.Request
		if pr.GrantType != "authorization_code" || pr.RedirectURI != redirectURI || pr.State != "st4te" || pr.ResponseType != "code" || pr.ResponseMode != "query" {
			t.Errorf("protocol.request = %+v", pr)
		}
		if e.Data.Identity.Claims["nonce"] != "n0nce" || e.Data.Context.Session == nil {
			t.Errorf("event identity %v, session %v", e.Data.Identity.Claims, e.Data.Context.Session)
		}
		// A code is single use.
		w = tokenCall(t, env.sim, redeem(spa.ClientID, q.Get("code")))
		if got := decodeJSON[oauthErrorBody](t, w); w.Code != http.StatusBadRequest || got.Error != "invalid_grant" {
			t.Errorf("second redemption = %d %s", w.Code, w.Body)
		}
	})

	t.Run("confidential client", func(t *testing.T) {
		env.hook.set(nil)
		q, w := authorize(t, authorizeURL(webApp.ClientID, "sessionToken", sessionToken(t, env.sim), "code_challenge", "", "code_challenge_method", ""))
		if q.Get("code") == "" {
			t.Fatalf("authorize = %d %s", w.Code, w.Body)
		}
		f := redeem(webApp.ClientID, q.Get("code"))
		f.Del("client_id")
		okTokens(t, tokenCall(t, env.sim, f, webApp.ClientID, webApp.ClientSecret))
	})

	redirectErrors := map[string]struct {
		url   func() string
		error string
	}{
		"public client without PKCE": {func() string {
			return authorizeURL(spa.ClientID, "sessionToken", sessionToken(t, env.sim), "code_challenge", "", "code_challenge_method", "")
		}, "invalid_request"},
		"no state": {func() string {
			return authorizeURL(spa.ClientID, "sessionToken", sessionToken(t, env.sim), "state", "")
		}, "invalid_request"},
		"token response type":                      {func() string { return authorizeURL(spa.ClientID, "response_type", "token") }, "unsupported_response_type"},
		"unregistered redirect_uri: an error page": {func() string { return authorizeURL(spa.ClientID, "client_id", publicApp) }, ""},
		"client without the grant":                 {func() string { return authorizeURL("0oapasswordonly") }, "unauthorized_client"},
		"not signed in, prompt=none":               {func() string { return authorizeURL(spa.ClientID, "prompt", "none") }, "login_required"},
	}
	for name, tc := range redirectErrors {
		t.Run(name, func(t *testing.T) {
			q, w := authorize(t, tc.url())
			if tc.error == "" { // an unknown redirect_uri for that client: an error page
				if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "redirect_uri") {
					t.Errorf("authorize = %d %s", w.Code, w.Body)
				}
				return
			}
			if q == nil || q.Get("error") != tc.error || q.Get("error_description") == "" || q.Get("code") != "" {
				t.Errorf("authorize = %d %v, want error %s", w.Code, q, tc.error)
			}
		})
	}

	t.Run("a session token is one-time", func(t *testing.T) {
		st := sessionToken(t, env.sim)
		if q, _ := authorize(t, authorizeURL(spa.ClientID, "sessionToken", st)); q.Get("code") == "" {
			t.Fatal("no code")
		}
		if q, w := authorize(t, authorizeURL(spa.ClientID, "sessionToken", st)); q != nil || w.Code != http.StatusOK {
			t.Errorf("reused session token = %d %v", w.Code, q)
		}
	})

	t.Run("bad verifier and redirect_uri", func(t *testing.T) {
		for _, extra := range [][]string{{"code_verifier", oauth2.GenerateVerifier()}, {"redirect_uri", redirectURI + "/other"}} {
			q, _ := authorize(t, authorizeURL(spa.ClientID, "sessionToken", sessionToken(t, env.sim)))
			w := tokenCall(t, env.sim, redeem(spa.ClientID, q.Get("code"), extra...))
			if got := decodeJSON[oauthErrorBody](t, w); w.Code != http.StatusBadRequest || got.Error != "invalid_grant" {
				t.Errorf("%v: %d %s", extra, w.Code, w.Body)
			}
		}
	})

	t.Run("bad password", func(t *testing.T) {
		w := call(t, env.sim, http.MethodPost, orgURL+"/api/v1/authn", `{"username":"`+patientLogin+`","password":"nope"}`, "Authorization", "")
		if w.Code != http.StatusUnauthorized || oktaError(t, w).ErrorCode != "E0000004" {
			t.Errorf("authn = %d %s", w.Code, w.Body)
		}
	})

	t.Run("policy denies", func(t *testing.T) {
		if _, err := env.sim.UpdateRule(DefaultAuthServerID, env.policy.ID, env.rule.ID, func(r *Rule) {
			r.Conditions.GrantTypes = []string{"password", "client_credentials"}
		}); err != nil {
			t.Fatal(err)
		}
		q, w := authorize(t, authorizeURL(spa.ClientID, "sessionToken", sessionToken(t, env.sim)))
		if q.Get("error") != "access_denied" || q.Get("state") != "st4te" {
			t.Errorf("authorize = %d %v", w.Code, q)
		}
	})

	for _, c := range env.sim.Calls() {
		if c.Query != "" {
			t.Errorf("logged the query of %s %s", c.Method, c.Path)
		}
	}
}

// TestMintAuthorizationCodeOverTheNetwork drives the flow with golang.org/x/oauth2.
func TestMintAuthorizationCodeOverTheNetwork(t *testing.T) {
	env := newMintEnv(t)
	if err := env.sim.AddClient(ClientSpec{ClientID: "0oaspa", RedirectURIs: []string{redirectURI}}); err != nil {
		t.Fatal(err)
	}
	env.hook.set(reply(`{"commands":[{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/patientID","value":"1235"}]}]}`))
	srv, err := env.sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	iss := srv.URL + "/oauth2/default"
	conf := &oauth2.Config{ClientID: "0oaspa", RedirectURL: redirectURI, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: iss + "/v1/authorize", TokenURL: iss + "/v1/token", AuthStyle: oauth2.AuthStyleInParams}}
	resp, err := http.Post(srv.URL+"/api/v1/authn", "application/json", strings.NewReader(`{"username":"`+patientLogin+`","password":"`+patientPass+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var authn struct {
		SessionToken string `json:"sessionToken"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&authn)
	_ = resp.Body.Close()
	verifier := oauth2.GenerateVerifier()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noRedirect.Get(conf.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("sessionToken", authn.SessionToken)))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize: %d, %v", resp.StatusCode, err)
	}
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	key, err := env.sim.SigningKey(DefaultAuthServerID)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := parsed.Claims(key, &claims); err != nil || claims["patientID"] != "1235" || claims["iss"] != iss {
		t.Errorf("access token %v: %v", claims, err)
	}
}

func TestAddUserAndClientValidation(t *testing.T) {
	s := New(Options{})
	u, err := s.AddUser(UserSpec{Login: "Ann@example.com", Password: "pw"})
	if err != nil || !strings.HasPrefix(u.ID, "00u") || len(u.ID) != 20 || u.Email != "Ann@example.com" || u.Locale != DefaultUserLocale || u.TimeZone != DefaultUserTimeZone {
		t.Fatalf("AddUser = %+v, %v", u, err)
	}
	users := map[string]UserSpec{
		"duplicate login, other case": {Login: "ann@EXAMPLE.com", Password: "x"},
		"no login":                    {Password: "x"},
	}
	for name, spec := range users {
		if _, err := s.AddUser(spec); err == nil {
			t.Errorf("AddUser %s: no error", name)
		}
	}
	clients := map[string]ClientSpec{
		"no ID":                           {},
		"public client_credentials":       {ClientID: "a", GrantTypes: []string{"client_credentials"}},
		"unknown grant":                   {ClientID: "b", GrantTypes: []string{"magic"}},
		"authorization_code, no redirect": {ClientID: "c", GrantTypes: []string{"authorization_code"}},
		"duplicate":                       {ClientID: "d"},
	}
	if err := s.AddClient(ClientSpec{ClientID: "d"}); err != nil {
		t.Fatal(err)
	}
	for name, spec := range clients {
		if err := s.AddClient(spec); err == nil {
			t.Errorf("AddClient %s: no error", name)
		}
	}
	if _, err := s.AddGroup("g", "00unobody"); err == nil {
		t.Error("AddGroup with an unknown member: no error")
	}
	if got := s.Users(); len(got) != 1 || got[0].ID != u.ID {
		t.Errorf("Users = %+v", got)
	}
}

package oktasim

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
)

// OAUTH inline hook channels: the management API (validation, write-only clientSecret, PUT
// between channel types) and minting with them (an access token from the channel's tokenUrl,
// reused, failures leaving the tokens unpatched).

const (
	secureOrg       = "https://org.example" // httptest requests to it carry a TLS state
	hookAS          = "aushookcallers000000"
	hookScope       = "tokenhook.call"
	hookAudience    = "api://hooks"
	secretHookApp   = "0oahooksecretapp0000"
	secretHookKey   = "hook app secret"
	jwtHookApp      = "0oahookjwtapp0000000"
	hookTokenMins   = 10
	patchedClaim    = `{"commands":[{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/patientId","value":"1235"}]}]}`
	hookTokenPath   = "/oauth2/" + hookAS + "/v1/token"
	hookTokenURL    = secureOrg + hookTokenPath
	oauthHookSecret = "s3cret-in-the-channel"
)

func validOAuthHook(config string) string {
	return `{"name":"patients","type":"com.okta.oauth2.tokens.transform","version":"1.0.0",
		"channel":{"type":"OAUTH","version":"1.0.0","config":{"uri":"https://hooks.example.com/tokenHook","method":"POST",
		"headers":[{"key":"X-Owner","value":"ns/name"}],` + config + `}}}`
}

const secretConfig = `"authType":"client_secret_post","clientId":"0oahook","clientSecret":"` + oauthHookSecret + `","tokenUrl":"https://org.example/oauth2/default/v1/token","scope":"hooks"`

func TestOAuthChannelValidation(t *testing.T) {
	s := New(Options{Token: token})
	k, err := s.AddHookKey("tokenhook")
	if err != nil {
		t.Fatal(err)
	}
	jwtConfig := `"authType":"private_key_jwt","clientId":"0oahook","hookKeyId":"` + k.ID + `","tokenUrl":"https://org.example/oauth2/default/v1/token"`
	cases := map[string]struct {
		config  string
		summary string // "" for a valid hook
	}{
		"client_secret_post":           {config: secretConfig},
		"client_secret_post, no scope": {config: strings.Replace(secretConfig, `,"scope":"hooks"`, "", 1)},
		"private_key_jwt":              {config: jwtConfig},
		"authScheme null":              {config: `"authScheme":null,` + secretConfig},
		"no clientId":                  {config: strings.Replace(secretConfig, `"clientId":"0oahook",`, "", 1), summary: "Api validation failed: channel.config.clientId"},
		"no clientSecret":              {config: strings.Replace(secretConfig, `"clientSecret":"`+oauthHookSecret+`",`, "", 1), summary: "Api validation failed: channel.config.clientSecret"},
		"no tokenUrl":                  {config: strings.Replace(secretConfig, `"tokenUrl":"https://org.example/oauth2/default/v1/token",`, "", 1), summary: "Api validation failed: channel.config.tokenUrl"},
		"http tokenUrl":                {config: strings.Replace(secretConfig, "https://org", "http://org", 1), summary: "Api validation failed: channel.config.tokenUrl"},
		"no authType":                  {config: strings.Replace(secretConfig, `"authType":"client_secret_post",`, "", 1), summary: "Api validation failed: channel.config.authType"},
		"unknown authType":             {config: strings.Replace(secretConfig, "client_secret_post", "client_secret_basic", 1), summary: "Api validation failed: channel.config.authType"},
		"no hookKeyId":                 {config: strings.Replace(jwtConfig, `"hookKeyId":"`+k.ID+`",`, "", 1), summary: "Api validation failed: channel.config.hookKeyId"},
		"unknown hookKeyId":            {config: strings.Replace(jwtConfig, k.ID, "HKYnosuchkey00000000", 1), summary: "Api validation failed: channel.config.hookKeyId"},
		"keyId instead of id":          {config: strings.Replace(jwtConfig, k.ID, k.KeyID, 1), summary: "Api validation failed: channel.config.hookKeyId"},
		"hookKeyId with a secret":      {config: secretConfig + `,"hookKeyId":"` + k.ID + `"`, summary: "Api validation failed: channel.config.hookKeyId"},
		"clientSecret with a key":      {config: jwtConfig + `,"clientSecret":"x"`, summary: "Api validation failed: channel.config.clientSecret"},
		"authScheme with OAUTH":        {config: `"authScheme":{"type":"HEADER","key":"Authorization","value":"v"},` + secretConfig, summary: "Api validation failed: channel.config.authScheme"},
		"GET method":                   {config: strings.Replace(secretConfig, `"authType"`, `"method":"GET","authType"`, 1), summary: "Api validation failed: channel.config.method"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			body := validOAuthHook(tc.config)
			if name == "GET method" {
				body = strings.Replace(body, `"method":"POST",`, "", 1)
			}
			w := call(t, s, http.MethodPost, "/api/v1/inlineHooks", body)
			if tc.summary == "" {
				if w.Code != http.StatusOK {
					t.Fatalf("create = %d %s", w.Code, w.Body)
				}
				h := decodeJSON[hookOut](t, w)
				if w := call(t, s, http.MethodPost, "/api/v1/inlineHooks/"+h.ID+"/lifecycle/deactivate", ""); w.Code != 200 {
					t.Fatal(w.Body)
				}
				if w := call(t, s, http.MethodDelete, "/api/v1/inlineHooks/"+h.ID, ""); w.Code != 204 {
					t.Fatal(w.Body)
				}
				return
			}
			b := oktaError(t, w)
			if w.Code != http.StatusBadRequest || b.ErrorCode != CodeValidation || b.ErrorSummary != tc.summary || len(b.ErrorCauses) == 0 {
				t.Errorf("create = %d %+v, want 400 %q", w.Code, b, tc.summary)
			}
		})
	}
	// A custom Authorization header would clash with the access token.
	w := call(t, s, http.MethodPost, "/api/v1/inlineHooks", strings.Replace(validOAuthHook(secretConfig), "X-Owner", "Authorization", 1))
	if b := oktaError(t, w); w.Code != 400 || b.ErrorSummary != "Api validation failed: channel.config.headers" {
		t.Errorf("Authorization header on an OAUTH channel = %d %+v", w.Code, b)
	}
}

// TestOAuthChannelAnswers: an OAUTH hook is answered as the spec's examples show it
// (authScheme null, clientId, tokenUrl, authType, scope, hookKeyId for private_key_jwt),
// never with clientSecret, which is stored; PUT moves a hook between channel types.
func TestOAuthChannelAnswers(t *testing.T) {
	s := New(Options{Token: token})
	k, err := s.AddHookKey("tokenhook")
	if err != nil {
		t.Fatal(err)
	}
	w := call(t, s, http.MethodPost, "/api/v1/inlineHooks", validOAuthHook(secretConfig))
	if w.Code != http.StatusOK {
		t.Fatalf("create = %d %s", w.Code, w.Body)
	}
	h := decodeJSON[hookOut](t, w)
	path := "/api/v1/inlineHooks/" + h.ID
	type config struct {
		fields    []string
		authType  string
		scope     string
		hookKeyID string
	}
	configOf := func(w *httptest.ResponseRecorder) config {
		t.Helper()
		if strings.Contains(w.Body.String(), "clientSecret") || strings.Contains(w.Body.String(), oauthHookSecret) {
			t.Errorf("answer carries the client secret: %s", w.Body)
		}
		out := decodeJSON[hookOut](t, w)
		raw := decodeJSON[struct {
			Channel struct {
				Config jsonObject `json:"config"`
			} `json:"channel"`
		}](t, w)
		return config{fields: raw.Channel.Config.keys(), authType: out.Channel.Config.AuthType, scope: string(out.Channel.Config.Scope), hookKeyID: out.Channel.Config.HookKeyID}
	}
	oauthFields := []string{"authScheme", "authType", "clientId", "headers", "method", "scope", "tokenUrl", "uri"}
	want := config{fields: oauthFields, authType: OAuthClientSecretPost, scope: `"hooks"`}
	if diff := cmp.Diff(want, configOf(w), cmp.AllowUnexported(config{})); diff != "" {
		t.Errorf("create answer (-want +got):\n%s", diff)
	}
	if got := configOf(call(t, s, http.MethodGet, path, "")); !cmp.Equal(want, got, cmp.AllowUnexported(config{})) {
		t.Errorf("GET = %+v", got)
	}
	if w := call(t, s, http.MethodGet, "/api/v1/inlineHooks", ""); strings.Contains(w.Body.String(), oauthHookSecret) {
		t.Errorf("list carries the client secret")
	}
	if !strings.Contains(call(t, s, http.MethodGet, path, "").Body.String(), `"authScheme":null`) {
		t.Error("authScheme is not null")
	}
	stored, _ := s.Hook(h.ID)
	if stored.Channel.OAuth == nil || stored.Channel.OAuth.ClientSecret != oauthHookSecret {
		t.Fatalf("stored channel %+v", stored.Channel)
	}

	// PUT: client_secret_post → private_key_jwt without scope → HTTP → client_secret_post.
	jwtConfig := `"authType":"private_key_jwt","clientId":"0oahook","hookKeyId":"` + k.ID + `","tokenUrl":"https://org.example/oauth2/default/v1/token"`
	w = call(t, s, http.MethodPut, path, validOAuthHook(jwtConfig))
	if w.Code != http.StatusOK {
		t.Fatalf("PUT private_key_jwt = %d %s", w.Code, w.Body)
	}
	want = config{fields: append(slices.Clone(oauthFields), "hookKeyId"), authType: OAuthPrivateKeyJWT, scope: "null", hookKeyID: k.ID}
	slices.Sort(want.fields)
	if diff := cmp.Diff(want, configOf(w), cmp.AllowUnexported(config{})); diff != "" {
		t.Errorf("PUT private_key_jwt answer (-want +got):\n%s", diff)
	}
	if stored, _ := s.Hook(h.ID); stored.Channel.OAuth.ClientSecret != "" || stored.Channel.OAuth.HookKeyID != k.ID {
		t.Errorf("stored after PUT: %+v", stored.Channel.OAuth)
	}
	w = call(t, s, http.MethodPut, path, validHook)
	if got := decodeJSON[hookOut](t, w); w.Code != http.StatusOK || got.Channel.Type != channelHTTP || got.Channel.Config.AuthType != "" || got.Channel.Config.AuthScheme == nil {
		t.Errorf("PUT HTTP = %d %s", w.Code, w.Body)
	}
	if got := configOf(w); slices.Contains(got.fields, "clientId") || slices.Contains(got.fields, "scope") {
		t.Errorf("an HTTP channel answers OAuth fields: %v", got.fields)
	}
	if stored, _ := s.Hook(h.ID); stored.Channel.OAuth != nil || stored.Channel.Type != channelHTTP {
		t.Errorf("stored after PUT to HTTP: %+v", stored.Channel)
	}
	// The secret is write-only, so a PUT must send it again.
	w = call(t, s, http.MethodPut, path, validOAuthHook(strings.Replace(secretConfig, `"clientSecret":"`+oauthHookSecret+`",`, "", 1)))
	if b := oktaError(t, w); w.Code != 400 || b.ErrorSummary != "Api validation failed: channel.config.clientSecret" {
		t.Errorf("PUT without the secret = %d %+v", w.Code, b)
	}
	if got := decodeJSON[hookOut](t, call(t, s, http.MethodPut, path, validOAuthHook(secretConfig))); got.Channel.Type != channelOAuth || got.Status != StatusActive || got.Type != HookTypeToken {
		t.Errorf("PUT back to OAUTH = %+v", got)
	}
	if _, ok := decodeJSON[hookOut](t, call(t, s, http.MethodGet, path, "")).Links["execute"]; !ok {
		t.Error("an ACTIVE OAUTH hook does not advertise execute")
	}
}

// jsonObject decodes any JSON object and keeps its keys.
type jsonObject map[string]any

func (o jsonObject) keys() []string {
	var out []string
	for k := range o {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// oauthEnv is newMintEnv with its hook on an OAUTH channel: the authorization server hookAS
// with the custom scope hookScope and a rule for client_credentials, a client_secret_post
// service app and a private_key_jwt one whose JWKS holds the hook key.
type oauthEnv struct {
	*mintEnv
	clock   *fakeClock
	key     HookKey
	ruleID  string // hookAS's rule
	keysURL string
}

func newOAuthEnv(t *testing.T) *oauthEnv {
	t.Helper()
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	env := &oauthEnv{mintEnv: newMintEnvWith(t, Options{Now: clock.now}), clock: clock}
	s := env.sim
	if _, err := s.AddAuthServer(AuthServerSpec{ID: hookAS, Name: "hook callers", Audiences: []string{hookAudience}}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddScope(hookAS, hookScope); err != nil {
		t.Fatal(err)
	}
	p, err := s.AddPolicy(hookAS, PolicySpec{Name: "hook callers", Clients: []string{"ALL_CLIENTS"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.AddRule(hookAS, p.ID, RuleSpec{Name: "client credentials", Conditions: RuleConditions{
		Groups: IncludeExclude{Include: []string{GroupEveryone}}, GrantTypes: []string{GrantClientCredentials}, Scopes: []string{hookScope},
	}, Token: TokenActions{AccessTokenLifetimeMinutes: hookTokenMins}})
	if err != nil {
		t.Fatal(err)
	}
	env.ruleID = r.ID
	if env.key, err = s.AddHookKey("tokenhook"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddClient(ClientSpec{ClientID: secretHookApp, ClientSecret: secretHookKey, GrantTypes: []string{GrantClientCredentials},
		TokenEndpointAuthMethod: ClientAuthSecretPost}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddClient(ClientSpec{ClientID: jwtHookApp, GrantTypes: []string{GrantClientCredentials},
		TokenEndpointAuthMethod: ClientAuthPrivateKeyJWT, JWKS: []jose.JSONWebKey{env.key.PublicKey}}); err != nil {
		t.Fatal(err)
	}
	env.keysURL = secureOrg + "/oauth2/" + hookAS + "/v1/keys"
	return env
}

// useChannel puts the env's hook on an OAUTH channel with this config.
func (env *oauthEnv) useChannel(t *testing.T, o OAuthChannel) {
	t.Helper()
	if _, err := env.sim.UpdateHook(env.hookID, func(h *Hook) {
		h.Channel.Type, h.Channel.AuthScheme, h.Channel.OAuth = channelOAuth, nil, &o
	}); err != nil {
		t.Fatal(err)
	}
}

func secretChannel() OAuthChannel {
	return OAuthChannel{AuthType: OAuthClientSecretPost, ClientID: secretHookApp, ClientSecret: secretHookKey, TokenURL: hookTokenURL, Scope: hookScope}
}

func (env *oauthEnv) jwtChannel() OAuthChannel {
	return OAuthChannel{AuthType: OAuthPrivateKeyJWT, ClientID: jwtHookApp, HookKeyID: env.key.ID, TokenURL: hookTokenURL, Scope: hookScope}
}

// mint is a password grant of the patient at secureOrg's default authorization server,
// returning the verified claims of the access token.
func (env *oauthEnv) mint(t *testing.T) map[string]any {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, secureOrg+"/oauth2/default/v1/token", strings.NewReader(password("api").Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	env.sim.ServeHTTP(w, r)
	body := okTokens(t, w)
	tok, err := jwt.ParseSigned(body.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	key, err := env.sim.SigningKey(DefaultAuthServerID)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := tok.Claims(key, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// checkHookToken verifies the Bearer token of a hook call as a hook server would: signed by
// hookAS's key from its JWKS, Okta's client credentials claims.
func (env *oauthEnv) checkHookToken(t *testing.T, header http.Header, clientID string) string {
	t.Helper()
	bearer, ok := strings.CutPrefix(header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("hook called with Authorization %q, want a Bearer token", header.Get("Authorization"))
	}
	w := call(t, env.sim, http.MethodGet, env.keysURL, "")
	keys := decodeJSON[jose.JSONWebKeySet](t, w)
	tok, err := jwt.ParseSigned(bearer, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Key(tok.Headers[0].KeyID)) != 1 {
		t.Fatalf("kid %q not in %s", tok.Headers[0].KeyID, env.keysURL)
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(keys, &std, &all); err != nil {
		t.Fatalf("verify the hook's token: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: secureOrg + "/oauth2/" + hookAS, AnyAudience: jwt.Audience{hookAudience}, Subject: clientID, Time: env.clock.now()}, 0); err != nil {
		t.Errorf("hook token claims: %v (%v)", err, all)
	}
	if all["cid"] != clientID || std.ID == "" || std.IssuedAt == nil || lifetime(all) != hookTokenMins*60 {
		t.Errorf("hook token claims %v", all)
	}
	if scp, _ := all["scp"].([]any); len(scp) != 1 || scp[0] != hookScope {
		t.Errorf("scp = %v, want [%s]", all["scp"], hookScope)
	}
	return bearer
}

// hookTokenCalls counts the token requests to hookAS.
func (env *oauthEnv) hookTokenCalls() int {
	n := 0
	for _, c := range env.sim.Calls() {
		if c.Endpoint == EndpointToken && c.Path == hookTokenPath {
			n++
		}
	}
	return n
}

// TestOAuthChannelMint mints with each auth type twice: the first mint gets an access token
// from the channel's tokenUrl and calls the hook with it, the second reuses it; past its
// expiry a third gets a new one.
func TestOAuthChannelMint(t *testing.T) {
	for _, authType := range []string{OAuthClientSecretPost, OAuthPrivateKeyJWT} {
		t.Run(authType, func(t *testing.T) {
			env := newOAuthEnv(t)
			channel, clientID := secretChannel(), secretHookApp
			if authType == OAuthPrivateKeyJWT {
				channel, clientID = env.jwtChannel(), jwtHookApp
			}
			env.useChannel(t, channel)
			env.hook.set(reply(patchedClaim))

			for i, wantFetch := range []bool{true, false} {
				if claims := env.mint(t); claims["patientId"] != "1235" {
					t.Fatalf("mint %d: patientId = %v, want the hook's claim", i, claims["patientId"])
				}
				calls := env.sim.HookCalls()
				if c := calls[len(calls)-1]; c.Outcome != HookApplied || c.TokenFetched != wantFetch || c.Status != http.StatusOK {
					t.Errorf("mint %d: hook call %+v, want applied with TokenFetched %v", i, c, wantFetch)
				}
			}
			reqs := env.hook.requests()
			if len(reqs) != 2 {
				t.Fatalf("hook called %d times, want 2", len(reqs))
			}
			first := env.checkHookToken(t, reqs[0].Header, clientID)
			if second := env.checkHookToken(t, reqs[1].Header, clientID); second != first {
				t.Error("the second call did not reuse the access token")
			}
			if reqs[0].Header.Get(hookHeader) != hookHeaderV {
				t.Errorf("custom header %s = %q", hookHeader, reqs[0].Header.Get(hookHeader))
			}
			if n := env.hookTokenCalls(); n != 1 {
				t.Errorf("%d token requests, want 1 for two mints", n)
			}

			env.clock.advance(hookTokenMins * time.Minute)
			env.mint(t)
			reqs = env.hook.requests()
			if third := env.checkHookToken(t, reqs[2].Header, clientID); third == first {
				t.Error("an expired access token was reused")
			}
			if n := env.hookTokenCalls(); n != 2 {
				t.Errorf("%d token requests after the token expired, want 2", n)
			}
		})
	}
}

// TestOAuthChannelPrivateKeyJWTAssertion: the client assertion Okta signs with the hook key.
func TestOAuthChannelPrivateKeyJWTAssertion(t *testing.T) {
	env := newOAuthEnv(t)
	a, err := env.sim.hookAssertion(env.jwtChannel(), env.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if h := tok.Headers[0]; h.KeyID != env.key.KeyID || h.Algorithm != string(jose.RS256) {
		t.Errorf("header kid %q alg %q, want the hook key's keyId and RS256", h.KeyID, h.Algorithm)
	}
	var c jwt.Claims
	if err := tok.Claims(env.key.PublicKey, &c); err != nil {
		t.Fatalf("not signed by the hook key: %v", err)
	}
	if err := c.Validate(jwt.Expected{Issuer: jwtHookApp, Subject: jwtHookApp, AnyAudience: jwt.Audience{hookTokenURL}, Time: env.clock.now()}); err != nil || c.ID == "" || c.Expiry == nil {
		t.Errorf("assertion claims %+v: %v", c, err)
	}
}

// TestOAuthChannelFailures: when Okta gets no access token (or the hook is unreachable) the
// hook call fails and the tokens are issued unpatched, as for an HTTP hook that fails.
func TestOAuthChannelFailures(t *testing.T) {
	cases := map[string]struct {
		setup  func(t *testing.T, env *oauthEnv) OAuthChannel
		reason string // in HookCall.Reason
	}{
		"wrong client secret": {
			setup: func(*testing.T, *oauthEnv) OAuthChannel {
				c := secretChannel()
				c.ClientSecret = "wrong"
				return c
			},
			reason: "401 invalid_client: " + descInvalidClient,
		},
		"unknown client": {
			setup: func(*testing.T, *oauthEnv) OAuthChannel {
				c := secretChannel()
				c.ClientID = "0oanosuchapp00000000"
				return c
			},
			reason: "401 invalid_client: " + descInvalidClient,
		},
		"unknown client, private_key_jwt": {
			setup: func(_ *testing.T, env *oauthEnv) OAuthChannel {
				c := env.jwtChannel()
				c.ClientID = "0oanosuchapp00000000"
				return c
			},
			reason: "401 invalid_client: " + descInvalidClient,
		},
		"secret app asked with the wrong method": {
			setup: func(_ *testing.T, env *oauthEnv) OAuthChannel {
				c := env.jwtChannel()
				c.ClientID = secretHookApp
				return c
			},
			reason: "401 invalid_client: " + descInvalidClient,
		},
		"unknown scope": {
			setup: func(*testing.T, *oauthEnv) OAuthChannel {
				c := secretChannel()
				c.Scope = "tokenhook.other"
				return c
			},
			reason: "400 invalid_scope: " + descUndefinedScope,
		},
		"no scope": {
			setup: func(*testing.T, *oauthEnv) OAuthChannel {
				c := secretChannel()
				c.Scope = ""
				return c
			},
			reason: "400 invalid_scope: " + descNoScope,
		},
		"hook key not in the app's JWKS": {
			setup: func(t *testing.T, env *oauthEnv) OAuthChannel {
				other, err := env.sim.AddHookKey("other")
				if err != nil {
					t.Fatal(err)
				}
				if err := env.sim.SetClientKeys(jwtHookApp, other.PublicKey); err != nil {
					t.Fatal(err)
				}
				return env.jwtChannel()
			},
			reason: "401 invalid_client: " + descAssertionKid,
		},
		"the hook key's JWK deactivated in the app": {
			setup: func(t *testing.T, env *oauthEnv) OAuthChannel {
				other, err := env.sim.AddHookKey("other")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := env.sim.AddAppJWK(jwtHookApp, other.PublicKey); err != nil {
					t.Fatal(err)
				}
				keys, _ := env.sim.AppJWKs(jwtHookApp)
				w := call(t, env.sim, http.MethodPost, "/api/v1/apps/"+jwtHookApp+"/credentials/jwks/"+keys[0].ID+"/lifecycle/deactivate", "")
				if w.Code != http.StatusOK {
					t.Fatalf("deactivate = %d %s", w.Code, w.Body)
				}
				return env.jwtChannel()
			},
			reason: "401 invalid_client: " + descAssertionKid,
		},
		"app's JWKS holds the kid with another key": {
			setup: func(t *testing.T, env *oauthEnv) OAuthChannel {
				other, err := env.sim.AddHookKey("other")
				if err != nil {
					t.Fatal(err)
				}
				impostor := other.PublicKey
				impostor.KeyID = env.key.KeyID
				if err := env.sim.SetClientKeys(jwtHookApp, impostor); err != nil {
					t.Fatal(err)
				}
				return env.jwtChannel()
			},
			reason: "401 invalid_client: " + descAssertionSignature,
		},
		"no rule allows the service app": {
			setup: func(t *testing.T, env *oauthEnv) OAuthChannel {
				p, _ := env.sim.Policies(hookAS)
				if _, err := env.sim.UpdateRule(hookAS, p[0].ID, env.ruleID, func(r *Rule) { r.Status = StatusInactive }); err != nil {
					t.Fatal(err)
				}
				return secretChannel()
			},
			reason: "400 access_denied: " + descPolicyFailed,
		},
		"tokenUrl outside the org": {
			setup: func(*testing.T, *oauthEnv) OAuthChannel {
				c := secretChannel()
				c.TokenURL = "https://127.0.0.1:1/oauth2/default/v1/token"
				return c
			},
			reason: "get an access token from https://127.0.0.1:1/oauth2/default/v1/token",
		},
		"token endpoint down": {
			setup:  externalTokenURL(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }),
			reason: "answered 500",
		},
		"token endpoint too slow": {
			setup: externalTokenURL(func(_ http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body) // the server sees the client go only after the body
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			}),
			reason: "no answer within " + testTimeout.String(),
		},
		"token endpoint drops the connection": {
			setup:  externalTokenURL(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }),
			reason: "EOF",
		},
		"token endpoint answers no token": {
			setup: externalTokenURL(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"token_type":"Bearer","expires_in":3600}`))
			}),
			reason: "no Bearer access token",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env := newOAuthEnv(t)
			env.useChannel(t, tc.setup(t, env))
			env.hook.set(reply(patchedClaim))
			start := time.Now()
			claims := env.mint(t)
			if _, ok := claims["patientId"]; ok {
				t.Error("the token was patched though the hook call failed")
			}
			if n := len(env.hook.requests()); n != 0 {
				t.Errorf("hook called %d times without an access token", n)
			}
			calls := env.sim.HookCalls()
			if len(calls) != 1 || calls[0].Outcome != HookFailed || calls[0].Status != 0 || !calls[0].TokenFetched {
				t.Fatalf("hook calls %+v, want one failed that asked for a token", calls)
			}
			if !strings.Contains(calls[0].Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", calls[0].Reason, tc.reason)
			}
			for _, secret := range []string{secretHookKey, "wrong"} {
				if strings.Contains(calls[0].Reason, secret) && name != "tokenUrl outside the org" {
					t.Errorf("reason %q carries a secret", calls[0].Reason)
				}
			}
			if d := time.Since(start); d > testTimeout+2*time.Second {
				t.Errorf("mint took %v with a %v hook timeout", d, testTimeout)
			}
		})
	}
}

// externalTokenURL points the channel at a token endpoint outside the org that answers with h.
func externalTokenURL(h http.HandlerFunc) func(*testing.T, *oauthEnv) OAuthChannel {
	return func(t *testing.T, _ *oauthEnv) OAuthChannel {
		srv := httptest.NewTLSServer(h) // the test hook's client trusts httptest's certificate
		t.Cleanup(srv.Close)
		c := secretChannel()
		c.TokenURL = srv.URL + "/oauth2/default/v1/token"
		return c
	}
}

// TestSelfTransport: a request of the simulator to itself is served in process like any other:
// logged, with its faults.
func TestSelfTransport(t *testing.T) {
	s := New(Options{})
	client := &http.Client{Transport: selfTransport{s}}
	// get answers the status, X-Okta-Request-Id and body of GET keys.
	get := func(ctx context.Context) (int, string, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, secureOrg+"/oauth2/default/v1/keys", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Okta-Request-Id"), body, err
	}
	status, requestID, body, err := get(context.Background())
	if err != nil || status != http.StatusOK || requestID == "" {
		t.Fatalf("GET keys = %d %q, %v", status, requestID, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 1 {
		t.Errorf("keys %+v, %v", set, err)
	}
	if c := s.Calls(); len(c) != 1 || c[0].Endpoint != EndpointKeys || c[0].Status != http.StatusOK {
		t.Errorf("calls %+v", c)
	}

	if err := s.SetFaults(EndpointKeys, Faults{DropRate: 1, MaxFaults: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := get(context.Background()); err == nil || !strings.Contains(err.Error(), "closed without a response") {
		t.Errorf("dropped: %v", err)
	}
	if err := s.SetFaults(EndpointKeys, Faults{LatencyRate: 1, Latency: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, _, err := get(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow: %v, want the deadline", err)
	}
}

// TestOAuthChannelHookRefusesToken: a hook that answers 401 to the access token is skipped
// like any non-200, and the token stays cached.
func TestOAuthChannelHookRefusesToken(t *testing.T) {
	env := newOAuthEnv(t)
	env.useChannel(t, secretChannel())
	env.hook.set(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	for range 2 {
		if claims := env.mint(t); claims["patientId"] != nil {
			t.Fatal("patched")
		}
	}
	calls := env.sim.HookCalls()
	if len(calls) != 2 || calls[0].Outcome != HookSkipped || calls[1].Outcome != HookSkipped || calls[0].Status != 401 || !calls[0].TokenFetched || calls[1].TokenFetched {
		t.Errorf("hook calls %+v", calls)
	}
}

// TestOAuthChannelRecursion: a hook whose tokenUrl is served by an authorization server whose
// rule runs that same hook never gets its token (each token request runs the hook again):
// Okta's budget runs out and the token is issued unpatched.
func TestOAuthChannelRecursion(t *testing.T) {
	env := newOAuthEnv(t)
	p, _ := env.sim.Policies(hookAS)
	if _, err := env.sim.UpdateRule(hookAS, p[0].ID, env.ruleID, func(r *Rule) { r.Token.InlineHookID = env.hookID }); err != nil {
		t.Fatal(err)
	}
	env.useChannel(t, secretChannel())
	env.hook.set(reply(patchedClaim))
	start := time.Now()
	if claims := env.mint(t); claims["patientId"] != nil {
		t.Fatal("patched")
	}
	if d := time.Since(start); d < testTimeout {
		t.Errorf("answered after %v, before the hook timeout %v: Okta would wait it out", d, testTimeout)
	}
	calls := env.sim.HookCalls()
	if len(calls) != 1 || calls[0].Outcome != HookFailed || !strings.Contains(calls[0].Reason, "ran inline hook "+env.hookID+" again") {
		t.Errorf("hook calls %+v", calls)
	}
	if n := len(env.hook.requests()); n != 0 {
		t.Errorf("hook called %d times", n)
	}
}

// TestOAuthChannelExecute: POST /execute goes through the OAUTH channel too.
func TestOAuthChannelExecute(t *testing.T) {
	env := newOAuthEnv(t)
	env.useChannel(t, env.jwtChannel())
	env.hook.set(reply(`{"commands":[]}`))
	w := call(t, env.sim, http.MethodPost, secureOrg+"/api/v1/inlineHooks/"+env.hookID+"/execute", `{"eventType":"com.okta.oauth2.tokens.transform"}`)
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"commands":[]}` {
		t.Fatalf("execute = %d %s", w.Code, w.Body)
	}
	reqs := env.hook.requests()
	if len(reqs) != 1 {
		t.Fatalf("hook called %d times", len(reqs))
	}
	env.checkHookToken(t, reqs[0].Header, jwtHookApp)
}

// TestPrivateKeyJWTClientAuthentication: the token endpoint of a custom authorization server
// authenticates private_key_jwt apps by their JWKS.
func TestPrivateKeyJWTClientAuthentication(t *testing.T) {
	env := newOAuthEnv(t)
	key, otherKey := keys(t) // the RSA keys of oauth_test.go
	const app = "0oajwtapp"
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}
	if err := env.sim.AddClient(ClientSpec{ClientID: app, GrantTypes: []string{GrantClientCredentials},
		TokenEndpointAuthMethod: ClientAuthPrivateKeyJWT, JWKS: []jose.JSONWebKey{pub}}); err != nil {
		t.Fatal(err)
	}
	now := env.clock.now()
	good := func() jwt.Claims {
		return jwt.Claims{Issuer: app, Subject: app, Audience: jwt.Audience{hookTokenURL}, ID: "jti-" + t.Name(),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}
	}
	with := func(f func(*jwt.Claims)) jwt.Claims { c := good(); f(&c); return c }
	cases := map[string]struct {
		key    *rsa.PrivateKey
		kid    string
		claims jwt.Claims
		form   url.Values
		status int
		error  string
		desc   string // "" for any
	}{
		"valid":             {key: key, kid: "k1", claims: good(), status: 200},
		"valid without kid": {key: key, claims: with(func(c *jwt.Claims) { c.ID = "other-jti" }), status: 200},
		"replayed jti":      {key: key, kid: "k1", claims: good(), status: 401, error: "invalid_client", desc: descAssertionReplayed},
		// jti is optional ("If you specify this parameter, the token can only be used once").
		"no jti":              {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID = "" }), status: 200},
		"no jti, again":       {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID = "" }), status: 200},
		"no iat":              {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID, c.IssuedAt = "j1", nil }), status: 200},
		"RS384":               {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID = "j1b" }), form: url.Values{"alg": {"RS384"}}, status: 200},
		"other key":           {key: otherKey, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID = "j2" }), status: 401, error: "invalid_client", desc: descAssertionSignature},
		"unknown kid":         {key: key, kid: "k2", claims: with(func(c *jwt.Claims) { c.ID = "j3" }), status: 401, error: "invalid_client", desc: descAssertionKid},
		"wrong audience":      {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID, c.Audience = "j4", jwt.Audience{secureOrg + "/oauth2/default/v1/token"} }), status: 401, error: "invalid_client", desc: descAssertionAudience},
		"subject differs":     {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID, c.Subject = "j5", "someone" }), status: 401, error: "invalid_client", desc: descAssertionSubject},
		"expired":             {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID, c.Expiry = "j6", jwt.NewNumericDate(now.Add(-time.Hour)) }), status: 401, error: "invalid_client", desc: descAssertionExpired},
		"no exp":              {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID, c.Expiry = "j6b", nil }), status: 401, error: "invalid_client", desc: descAssertionNoExpiry},
		"exp over an hour on": {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID, c.Expiry = "j7", jwt.NewNumericDate(now.Add(2*time.Hour)) }), status: 401, error: "invalid_client", desc: descAssertionTooLong},
		// The hour counts from now, not from iat.
		"issued long ago, exp within the hour": {key: key, kid: "k1", claims: with(func(c *jwt.Claims) {
			c.ID, c.IssuedAt, c.Expiry = "j7b", jwt.NewNumericDate(now.Add(-50*time.Minute)), jwt.NewNumericDate(now.Add(50*time.Minute))
		}), status: 200},
		"issued in the future": {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID, c.IssuedAt = "j7c", jwt.NewNumericDate(now.Add(10*time.Minute)) }), status: 401, error: "invalid_client", desc: descAssertionIssuedAt},
		"client_id differs":    {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID = "j8" }), form: url.Values{"client_id": {secretHookApp}}, status: 401, error: "invalid_client", desc: descInvalidClient},
		"client_id agrees":     {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID = "j8b" }), form: url.Values{"client_id": {app}}, status: 200},
		"also a secret":        {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID = "j9" }), form: url.Values{"client_secret": {"x"}}, status: 400, error: "invalid_request", desc: descMultipleCreds},
		"wrong type":           {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID = "j10" }), form: url.Values{"client_assertion_type": {"urn:other"}}, status: 400, error: "invalid_request", desc: descAssertionType},
		"unknown issuer":       {key: key, kid: "k1", claims: with(func(c *jwt.Claims) { c.ID, c.Issuer, c.Subject = "j11", "0oanobody", "0oanobody" }), status: 401, error: "invalid_client", desc: descInvalidClient},
	}
	// In order: "valid" before "replayed jti".
	names := []string{"valid", "replayed jti", "no jti", "no jti, again"}
	for name := range cases {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		tc := cases[name]
		t.Run(name, func(t *testing.T) {
			form := url.Values{"grant_type": {GrantClientCredentials}, "scope": {hookScope},
				"client_assertion_type": {assertionType}, "client_assertion": {signedWith(t, tc.key, tc.kid, tc.form.Get("alg"), tc.claims)}}
			for k, v := range tc.form {
				if k != "alg" {
					form[k] = v
				}
			}
			r := httptest.NewRequest(http.MethodPost, hookTokenURL, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			w := httptest.NewRecorder()
			env.sim.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status != 200 {
				if got := decodeJSON[oauthErrorBody](t, w); got.Error != tc.error || (tc.desc != "" && got.Description != tc.desc) {
					t.Errorf("error = %+v, want %s %q", got, tc.error, tc.desc)
				}
			}
		})
	}
	// The app must use private_key_jwt: its (absent) secret is no way in.
	form := url.Values{"grant_type": {GrantClientCredentials}, "scope": {hookScope}, "client_id": {app}, "client_secret": {""}}
	r := httptest.NewRequest(http.MethodPost, hookTokenURL, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	env.sim.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("private_key_jwt app without an assertion = %d %s", w.Code, w.Body)
	}
}

// TestClientAuthMethodIsEnforced: an app whose token_endpoint_auth_method is set must use it.
func TestClientAuthMethodIsEnforced(t *testing.T) {
	env := newOAuthEnv(t)
	if err := env.sim.AddClient(ClientSpec{ClientID: "0oabasiconly", ClientSecret: "b", GrantTypes: []string{GrantClientCredentials}, TokenEndpointAuthMethod: ClientAuthSecretBasic}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		clientID, secret string
		basic            bool
		status           int
	}{
		"post app by post":   {clientID: secretHookApp, secret: secretHookKey, status: 200},
		"post app by basic":  {clientID: secretHookApp, secret: secretHookKey, basic: true, status: 401},
		"basic app by basic": {clientID: "0oabasiconly", secret: "b", basic: true, status: 200},
		"basic app by post":  {clientID: "0oabasiconly", secret: "b", status: 401},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			form := url.Values{"grant_type": {GrantClientCredentials}, "scope": {hookScope}}
			if !tc.basic {
				form.Set("client_id", tc.clientID)
				form.Set("client_secret", tc.secret)
			}
			r := httptest.NewRequest(http.MethodPost, hookTokenURL, strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic {
				r.SetBasicAuth(tc.clientID, tc.secret)
			}
			w := httptest.NewRecorder()
			env.sim.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d: %s", w.Code, tc.status, w.Body)
			}
		})
	}
}

func TestAddClientAuthMethodValidation(t *testing.T) {
	s := New(Options{})
	key, _ := keys(t)
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1"}
	priv := jose.JSONWebKey{Key: key, KeyID: "k1"}
	bad := map[string]ClientSpec{
		"unknown method":          {ClientID: "a", ClientSecret: "s", TokenEndpointAuthMethod: "client_secret_jwt"},
		"post without a secret":   {ClientID: "b", TokenEndpointAuthMethod: ClientAuthSecretPost},
		"private_key_jwt, secret": {ClientID: "c", ClientSecret: "s", TokenEndpointAuthMethod: ClientAuthPrivateKeyJWT},
		"JWKS without the method": {ClientID: "d", ClientSecret: "s", JWKS: []jose.JSONWebKey{pub}},
		"a private key in JWKS":   {ClientID: "e", TokenEndpointAuthMethod: ClientAuthPrivateKeyJWT, JWKS: []jose.JSONWebKey{priv}},
		"none with a secret":      {ClientID: "f", ClientSecret: "s", TokenEndpointAuthMethod: ClientAuthNone},
	}
	for name, spec := range bad {
		if err := s.AddClient(spec); err == nil {
			t.Errorf("AddClient %s: no error", name)
		}
	}
	if err := s.AddClient(ClientSpec{ClientID: "g", TokenEndpointAuthMethod: ClientAuthPrivateKeyJWT}); err != nil {
		t.Fatalf("private_key_jwt app without keys yet: %v", err)
	}
	if c, _ := s.mint.dir.client("g"); !slices.Contains(c.GrantTypes, GrantClientCredentials) || c.public() {
		t.Errorf("a private_key_jwt app is confidential and gets client_credentials by default: %+v", c)
	}
	if err := s.SetClientKeys("g", pub); err != nil {
		t.Errorf("SetClientKeys: %v", err)
	}
	if err := s.SetClientKeys("g", priv); err == nil {
		t.Error("SetClientKeys took a private key")
	}
	if err := s.AddClient(ClientSpec{ClientID: "h", ClientSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetClientKeys("h", pub); err == nil {
		t.Error("SetClientKeys on a client_secret app")
	}
	if err := s.SetClientKeys("nobody", pub); err == nil {
		t.Error("SetClientKeys on an unknown app")
	}
}

// signedWith is assertion with a chosen RSA algorithm ("" is RS256).
func signedWith(t *testing.T, key *rsa.PrivateKey, kid, alg string, claims jwt.Claims) string {
	t.Helper()
	if alg == "" {
		return assertion(t, key, kid, claims)
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

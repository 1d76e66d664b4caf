package oktasim

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	appID    = "0oaapp"
	tokenURL = "http://example.com/oauth2/v1/token" // httptest requests go to example.com
)

var (
	keyOnce      sync.Once
	appKey, evil *rsa.PrivateKey
)

func keys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keyOnce.Do(func() {
		var err error
		if appKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if evil, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return appKey, evil
}

func assertion(t *testing.T, key *rsa.PrivateKey, kid string, claims jwt.Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenEndpoint(t *testing.T) {
	key, otherKey := keys(t)
	now := time.Now()
	good := func() jwt.Claims {
		return jwt.Claims{Issuer: appID, Subject: appID, Audience: jwt.Audience{tokenURL},
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour))}
	}
	with := func(f func(*jwt.Claims)) jwt.Claims { c := good(); f(&c); return c }
	cases := map[string]struct {
		key    *rsa.PrivateKey
		kid    string
		claims jwt.Claims
		form   url.Values // overrides
		status int
		code   string
	}{
		"valid":             {key: key, kid: "k1", claims: good(), status: 200},
		"valid without kid": {key: key, claims: good(), status: 200},
		"other key":         {key: otherKey, kid: "k1", claims: good(), status: 401, code: "invalid_client"},
		"other kid":         {key: key, kid: "k2", claims: good(), status: 401, code: "invalid_client"},
		"unknown client":    {key: key, claims: with(func(c *jwt.Claims) { c.Issuer, c.Subject = "0oanope", "0oanope" }), status: 401, code: "invalid_client"},
		"subject differs":   {key: key, claims: with(func(c *jwt.Claims) { c.Subject = "someone" }), status: 401, code: "invalid_client"},
		"wrong audience":    {key: key, claims: with(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://other/oauth2/v1/token"} }), status: 401, code: "invalid_client"},
		"expired":           {key: key, claims: with(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)) }), status: 401, code: "invalid_client"},
		"lives too long":    {key: key, claims: with(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(3 * time.Hour)) }), status: 401, code: "invalid_client"},
		"scope not granted": {key: key, claims: good(), form: url.Values{"scope": {"okta.users.manage"}}, status: 400, code: "invalid_scope"},
		"no scope":          {key: key, claims: good(), form: url.Values{"scope": {""}}, status: 400, code: "invalid_scope"},
		"other grant":       {key: key, claims: good(), form: url.Values{"grant_type": {"password"}}, status: 400, code: "unsupported_grant_type"},
		"no assertion type": {key: key, claims: good(), form: url.Values{"client_assertion_type": {""}}, status: 401, code: "invalid_client"},
		"garbage assertion": {key: key, claims: good(), form: url.Values{"client_assertion": {"not.a.jwt"}}, status: 401, code: "invalid_client"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := New(Options{})
			if err := s.AddServiceApp(ServiceApp{ClientID: appID, PublicKey: &key.PublicKey, KeyID: "k1", Scopes: []string{"okta.inlineHooks.manage", "okta.authorizationServers.read"}}); err != nil {
				t.Fatal(err)
			}
			q := url.Values{
				"grant_type":            {"client_credentials"},
				"scope":                 {"okta.inlineHooks.manage okta.authorizationServers.read"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {assertion(t, tc.key, tc.kid, tc.claims)},
			}
			for k, v := range tc.form {
				q[k] = v
			}
			// Like the SDK: parameters in the query, an empty form body.
			w := call(t, s, http.MethodPost, "/oauth2/v1/token?"+q.Encode(), "", "Authorization", "", "Content-Type", "application/x-www-form-urlencoded")
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status != 200 {
				if b := decodeJSON[map[string]string](t, w); b["error"] != tc.code || b["error_description"] == "" {
					t.Errorf("error body %v, want %s", b, tc.code)
				}
				return
			}
			tok := decodeJSON[tokenResponse](t, w)
			if tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 || tok.AccessToken == "" {
				t.Fatalf("token %+v", tok)
			}
			bearer := "Bearer " + tok.AccessToken
			if w := call(t, s, http.MethodGet, "/api/v1/inlineHooks", "", "Authorization", bearer); w.Code != 200 {
				t.Errorf("GET hooks with .manage = %d", w.Code)
			}
			if w := call(t, s, http.MethodGet, "/api/v1/authorizationServers", "", "Authorization", bearer); w.Code != 200 {
				t.Errorf("GET servers with .read = %d", w.Code)
			}
			w = call(t, s, http.MethodPost, "/api/v1/authorizationServers/default/policies", `{}`, "Authorization", bearer)
			if w.Code != 403 || oktaError(t, w).ErrorCode != CodeForbidden || !strings.Contains(w.Header().Get("WWW-Authenticate"), "insufficient_scope") {
				t.Errorf("POST policy with .read = %d %s", w.Code, w.Body)
			}
		})
	}
}

func TestTokenExpiresAndAssertionIsSingleUse(t *testing.T) {
	key, _ := keys(t)
	now := time.Now()
	s := New(Options{Now: func() time.Time { return now }})
	if err := s.AddServiceApp(ServiceApp{ClientID: appID, PublicKey: &key.PublicKey, Scopes: []string{"okta.inlineHooks.read"}}); err != nil {
		t.Fatal(err)
	}
	a := assertion(t, key, "", jwt.Claims{Issuer: appID, Subject: appID, Audience: jwt.Audience{tokenURL}, ID: "jti-1",
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"okta.inlineHooks.read"},
		"client_assertion_type": {assertionType}, "client_assertion": {a}}.Encode()
	w := call(t, s, http.MethodPost, "/oauth2/v1/token", form, "Authorization", "", "Content-Type", "application/x-www-form-urlencoded")
	if w.Code != 200 {
		t.Fatalf("token = %d %s", w.Code, w.Body)
	}
	bearer := "Bearer " + decodeJSON[tokenResponse](t, w).AccessToken
	if w := call(t, s, http.MethodPost, "/oauth2/v1/token", form, "Authorization", "", "Content-Type", "application/x-www-form-urlencoded"); w.Code != 401 {
		t.Errorf("replayed assertion = %d", w.Code)
	}
	now = now.Add(accessTokenLifetime)
	w = call(t, s, http.MethodGet, "/api/v1/inlineHooks", "", "Authorization", bearer)
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("expired token = %d %v", w.Code, w.Header())
	}
}

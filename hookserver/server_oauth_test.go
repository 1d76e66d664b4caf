package hookserver

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/hookserver/internal/bearer/bearertest"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

func oauthOptions(t *testing.T, iss *bearertest.Issuer) OAuthOptions {
	return OAuthOptions{Issuer: iss.URL, Audience: bearertest.Audience, ClientID: bearertest.ClientID,
		Scope: bearertest.Scope, JWKSCAFile: iss.CAFile(t)}
}

// TestServerOAuth runs the server in both mode, as during a switch of Okta's
// channel, with the keys fetched over HTTPS from an issuer trusted through
// the CA file: it is ready only once the keys are in, then takes either
// credential, and its metrics and logs say so without the token.
func TestServerOAuth(t *testing.T) {
	key := bearertest.NewKey(t, "srv-key-1", 0)
	iss := bearertest.NewIssuer(t, key)
	iss.SetStatus(http.StatusServiceUnavailable) // Okta unreachable at first
	f := newFixture(t, testPatients)
	s := startServer(t, Options{PatientsFile: f.patients, AuthSecretFiles: []string{f.secret},
		AuthMode: AuthModeBoth, OAuth: oauthOptions(t, iss)})

	eventually(t, "a failed key fetch", func() bool { return iss.Fetches() > 0 })
	if status, body := s.get(t, s.url+ReadyzPath); status != http.StatusServiceUnavailable || !strings.Contains(body, "signing keys") {
		t.Errorf("/readyz before the keys = %d %q; want 503 naming the keys", status, body)
	}
	iss.SetStatus(http.StatusOK)
	eventually(t, "ready", func() bool { status, _ := s.get(t, s.url+ReadyzPath); return status == http.StatusOK })

	token := key.Sign(t, iss.Claims(time.Now()))
	if status, body := s.call(t, "Bearer "+token, specEvent(t, withLogin(specLogin))); status != http.StatusOK {
		t.Errorf("with the token: %d %s", status, body)
	}
	if status, body := s.call(t, testSecret, specEvent(t, withLogin(specLogin))); status != http.StatusOK {
		t.Errorf("with the secret: %d %s", status, body)
	}
	forged := key.Sign(t, func() map[string]any { c := iss.Claims(time.Now()); c["scp"] = []string{"openid"}; return c }())
	if status, _ := s.call(t, "Bearer "+forged, specEvent(t, withLogin(specLogin))); status != http.StatusUnauthorized {
		t.Errorf("without the scope: %d; want 401", status)
	}

	_, m := s.get(t, s.metricsURL)
	for _, want := range []string{
		`tokenhook_hook_authenticated_calls_total{method="oauth"} 1`,
		`tokenhook_hook_authenticated_calls_total{method="header"} 1`,
		`tokenhook_hook_auth_failures_total{reason="missing_scope"} 1`,
		`tokenhook_hook_auth_failures_total{reason="unknown_kid"} 0`,
		`tokenhook_hook_calls_total{outcome="unauthorized"} 1`,
		`tokenhook_hook_oauth_key_fetches_total{result="success"} 1`,
		`tokenhook_hook_oauth_keys 1`,
		`tokenhook_hook_oauth_keys_last_success_timestamp_seconds `,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(m, `tokenhook_hook_oauth_key_fetches_total{result="error"}`) ||
		strings.Contains(m, `tokenhook_hook_oauth_key_fetches_total{result="error"} 0`) {
		t.Errorf("metrics do not count the failed fetch")
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	logs := s.logs.String()
	parts := strings.Split(token, ".")
	for _, secret := range []string{parts[1], parts[2], strings.Split(forged, ".")[2], testSecret, specLogin} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs, "OAuth signing keys loaded") || !strings.Contains(logs, "srv-key-1") {
		t.Errorf("logs do not report the keys loaded:\n%s", logs)
	}
}

// TestServerOAuthOnly needs no secret file.
func TestServerOAuthOnly(t *testing.T) {
	key := bearertest.NewKey(t, "srv-key-1", 0)
	iss := bearertest.NewIssuer(t, key)
	f := newFixture(t, testPatients)
	s := startServer(t, Options{PatientsFile: f.patients, AuthMode: AuthModeOAuth, OAuth: oauthOptions(t, iss)})
	eventually(t, "ready", func() bool { status, _ := s.get(t, s.url+ReadyzPath); return status == http.StatusOK })
	if status, _ := s.call(t, testSecret, specEvent(t, withLogin(specLogin))); status != http.StatusUnauthorized {
		t.Errorf("with the secret: %d; want 401", status)
	}
	if status, body := s.call(t, "Bearer "+key.Sign(t, iss.Claims(time.Now())), specEvent(t, withLogin(specLogin))); status != http.StatusOK {
		t.Errorf("with the token: %d %s", status, body)
	}
}

func TestNewRejectsBadOAuthOptions(t *testing.T) {
	iss := bearertest.NewIssuer(t, bearertest.NewKey(t, "k", 0))
	f := newFixture(t, testPatients)
	good := oauthOptions(t, iss)
	cases := map[string]struct {
		edit    func(o *Options)
		wantErr string
	}{
		"unknown mode":       {func(o *Options) { o.AuthMode = "token" }, `unknown auth mode "token"`},
		"both without files": {func(o *Options) { o.AuthSecretFiles = nil }, "no secret file"},
		"no issuer":          {func(o *Options) { o.OAuth.Issuer = "" }, "needs: issuer"},
		"HTTP issuer":        {func(o *Options) { o.OAuth.Issuer = "http://example.okta.com/oauth2/default" }, "https://"},
		"missing CA file":    {func(o *Options) { o.OAuth.JWKSCAFile = f.dir + "/none.crt" }, "JWKS CA file"},
		"CA file not PEM":    {func(o *Options) { o.OAuth.JWKSCAFile = f.secret }, "holds no PEM certificate"},
		"skew too large":     {func(o *Options) { o.OAuth.ClockSkew = time.Hour }, "clock skew"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := Options{PatientsFile: f.patients, AuthSecretFiles: []string{f.secret}, Claim: DefaultClaim,
				AuthMode: AuthModeBoth, OAuth: good}
			c.edit(&o)
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("New error = %v; want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestNewBearerVerifier(t *testing.T) {
	key := bearertest.NewKey(t, "standalone", 0)
	iss := bearertest.NewIssuer(t, key)
	v, err := NewBearerVerifier(oauthOptions(t, iss))
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(HandlerConfig{Claim: DefaultClaim, Tokens: []protocol.Token{protocol.IDToken},
		AuthMode: AuthModeOAuth, Bearer: v}, fixedPatients{mustParse(t, testPatients)}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := call(t, h, map[string]string{"Authorization": "Bearer " + key.Sign(t, iss.Claims(time.Now()))})
	if w.Code != http.StatusOK {
		t.Errorf("status %d: %s", w.Code, w.Body)
	}
	if got := iss.Fetches(); got != 1 {
		t.Errorf("%d fetches; want 1, at the first token", got)
	}
	if _, err := NewBearerVerifier(OAuthOptions{Issuer: iss.URL}); err == nil {
		t.Error("NewBearerVerifier accepted options without audience, client ID and scope")
	}
}

package hookserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tokenhook/tokenhook/hookserver/internal/bearer"
	"github.com/tokenhook/tokenhook/hookserver/internal/bearer/bearertest"
	"github.com/tokenhook/tokenhook/hookserver/internal/race"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// oauthFixture is an issuer and a verifier of its tokens, keys loaded.
type oauthFixture struct {
	iss *bearertest.Issuer
	key *bearertest.Key
	v   *bearer.Verifier
}

func newOAuthFixture(t testing.TB) *oauthFixture {
	t.Helper()
	key := bearertest.NewKey(t, "hook-key-1", 0)
	iss := bearertest.NewIssuer(t, key)
	v, err := bearer.New(bearer.Config{Issuer: iss.URL, Audience: bearertest.Audience, ClientID: bearertest.ClientID,
		Scope: bearertest.Scope, Client: iss.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	wait, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := v.WaitLoaded(wait); err != nil {
		t.Fatal(err)
	}
	return &oauthFixture{iss: iss, key: key, v: v}
}

// token is a valid token, edited by edit.
func (f *oauthFixture) token(t testing.TB, edit func(c map[string]any)) string {
	t.Helper()
	c := f.iss.Claims(time.Now())
	if edit != nil {
		edit(c)
	}
	return f.key.Sign(t, c)
}

func newAuthHandler(t testing.TB, mode AuthMode, v BearerVerifier) *Handler {
	t.Helper()
	h, err := NewHandler(HandlerConfig{Claim: DefaultClaim, Tokens: []protocol.Token{protocol.IDToken},
		AuthMode: mode, Bearer: v},
		fixedPatients{mustParse(t, testPatients)}, secretsFromFiles(t, testSecret+"\n"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// call runs a patient's call with the given headers through h.
func call(t testing.TB, h *Handler, headers map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := hookRequest(specEvent(t, withLogin(specLogin)))
	r.Header.Del("Authorization")
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAuthModes(t *testing.T) {
	f := newOAuthFixture(t)
	good := "Bearer " + f.token(t, nil)
	expired := "Bearer " + f.token(t, func(c map[string]any) {
		c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		c["exp"] = time.Now().Add(-time.Hour).Unix()
	})
	bearerSecret := "Bearer opaque-shared-secret" // a shared secret may itself start with "Bearer "
	type want struct {
		status int
		reason string // of the auth failures metric; "" when accepted
		method string // of the authenticated calls metric when accepted
	}
	cases := map[string]struct {
		mode       AuthMode
		authHeader string
		secret     string // the secret file's, default testSecret
		headers    map[string]string
		want       want
	}{
		"header: secret":                  {mode: AuthModeHeader, headers: map[string]string{"Authorization": testSecret}, want: want{200, "", methodHeader}},
		"header: token refused":           {mode: AuthModeHeader, headers: map[string]string{"Authorization": good}, want: want{401, authBadSecret, ""}},
		"header: nothing":                 {mode: AuthModeHeader, want: want{401, authMissing, ""}},
		"header: wrong secret":            {mode: AuthModeHeader, headers: map[string]string{"Authorization": "Basic d3Jvbmc="}, want: want{401, authBadSecret, ""}},
		"oauth: token":                    {mode: AuthModeOAuth, headers: map[string]string{"Authorization": good}, want: want{200, "", methodOAuth}},
		"oauth: lowercase scheme":         {mode: AuthModeOAuth, headers: map[string]string{"Authorization": "bearer " + strings.TrimPrefix(good, "Bearer ")}, want: want{200, "", methodOAuth}},
		"oauth: secret refused":           {mode: AuthModeOAuth, headers: map[string]string{"Authorization": testSecret}, want: want{401, authMissing, ""}},
		"oauth: secret in its own header": {mode: AuthModeOAuth, authHeader: "X-Hook-Secret", headers: map[string]string{"X-Hook-Secret": testSecret}, want: want{401, authMissing, ""}},
		"oauth: expired":                  {mode: AuthModeOAuth, headers: map[string]string{"Authorization": expired}, want: want{401, "expired", ""}},
		"oauth: not a JWT":                {mode: AuthModeOAuth, headers: map[string]string{"Authorization": "Bearer abc"}, want: want{401, "malformed_token", ""}},
		"oauth: nothing":                  {mode: AuthModeOAuth, want: want{401, authMissing, ""}},
		"both, one header: secret":        {mode: AuthModeBoth, headers: map[string]string{"Authorization": testSecret}, want: want{200, "", methodHeader}},
		"both, one header: token":         {mode: AuthModeBoth, headers: map[string]string{"Authorization": good}, want: want{200, "", methodOAuth}},
		"both, one header: Bearer secret": {mode: AuthModeBoth, secret: bearerSecret,
			headers: map[string]string{"Authorization": bearerSecret}, want: want{200, "", methodHeader}},
		"both, one header: wrong Bearer secret": {mode: AuthModeBoth, secret: bearerSecret,
			headers: map[string]string{"Authorization": "Bearer other"}, want: want{401, authBadSecret, ""}},
		"both, one header: expired token": {mode: AuthModeBoth, headers: map[string]string{"Authorization": expired}, want: want{401, "expired", ""}},
		"both, one header: nothing":       {mode: AuthModeBoth, want: want{401, authMissing, ""}},
		"both, two headers: secret":       {mode: AuthModeBoth, authHeader: "X-Hook-Secret", headers: map[string]string{"X-Hook-Secret": testSecret}, want: want{200, "", methodHeader}},
		"both, two headers: token":        {mode: AuthModeBoth, authHeader: "X-Hook-Secret", headers: map[string]string{"Authorization": good}, want: want{200, "", methodOAuth}},
		"both, two headers: bad token, good secret": {mode: AuthModeBoth, authHeader: "X-Hook-Secret",
			headers: map[string]string{"Authorization": expired, "X-Hook-Secret": testSecret}, want: want{200, "", methodHeader}},
		"both, two headers: both bad": {mode: AuthModeBoth, authHeader: "X-Hook-Secret",
			headers: map[string]string{"Authorization": expired, "X-Hook-Secret": "nope"}, want: want{401, "expired", ""}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			secret := testSecret
			if c.secret != "" {
				secret = c.secret
			}
			h, err := NewHandler(HandlerConfig{Claim: DefaultClaim, Tokens: []protocol.Token{protocol.IDToken},
				AuthMode: c.mode, AuthHeader: c.authHeader, Bearer: f.v},
				fixedPatients{mustParse(t, testPatients)}, secretsFromFiles(t, secret+"\n"), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			w := call(t, h, c.headers)
			got := want{status: w.Code}
			for _, r := range authFailureReasons() {
				if counterValue(t, h.metrics.authFailures[r]) == 1 {
					got.reason = r
				}
			}
			for _, m := range []string{methodHeader, methodOAuth} {
				if counterValue(t, h.metrics.authenticated[m]) == 1 {
					got.method = m
				}
			}
			if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if w.Code == http.StatusUnauthorized {
				// One answer whatever the reason: it tells a caller nothing.
				var body errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
					t.Fatal(err)
				}
				if body.Code != "unauthorized" || body.Summary != unauthorizedMessage(c.mode, h.cfg.AuthHeader) {
					t.Errorf("401 body %s", w.Body)
				}
				if got, want := w.Header().Get("WWW-Authenticate"), map[bool]string{true: "Bearer"}[c.mode != AuthModeHeader]; got != want {
					t.Errorf("WWW-Authenticate = %q; want %q", got, want)
				}
			}
		})
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestUnauthorizedMessage(t *testing.T) {
	got := []string{
		unauthorizedMessage(AuthModeHeader, "X-Secret"),
		unauthorizedMessage(AuthModeOAuth, "X-Secret"),
		unauthorizedMessage(AuthModeBoth, "X-Secret"),
		unauthorizedMessage(AuthModeBoth, "Authorization"),
	}
	want := []string{
		"Missing or invalid X-Secret header.",
		"Missing or invalid Authorization header.",
		"Missing or invalid X-Secret or Authorization header.",
		"Missing or invalid Authorization header.",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestNewHandlerAuthModes(t *testing.T) {
	f := newOAuthFixture(t)
	secrets := secretsFromFiles(t, testSecret+"\n")
	cases := map[string]struct {
		mode    AuthMode
		auth    Authenticator
		bearer  BearerVerifier
		wantErr string
	}{
		"header without secrets": {mode: AuthModeHeader, wantErr: "needs an authenticator"},
		"oauth without verifier": {mode: AuthModeOAuth, auth: secrets, wantErr: "needs a bearer token verifier"},
		"both without verifier":  {mode: AuthModeBoth, auth: secrets, wantErr: "needs a bearer token verifier"},
		"both without secrets":   {mode: AuthModeBoth, bearer: f.v, wantErr: "needs an authenticator"},
		"unknown mode":           {mode: "jwt", auth: secrets, bearer: f.v, wantErr: `unknown auth mode "jwt"`},
		"oauth without secrets":  {mode: AuthModeOAuth, bearer: f.v},
		"default is header":      {auth: secrets},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewHandler(HandlerConfig{Claim: DefaultClaim, Tokens: []protocol.Token{protocol.IDToken},
				AuthMode: c.mode, Bearer: c.bearer}, fixedPatients{}, c.auth, nil, nil)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("NewHandler = %v; want an error containing %q", err, c.wantErr)
			}
		})
	}
}

// TestHandlerOAuthEndToEnd: a real signed token, over HTTP, to the handler,
// with the keys fetched from the issuer over HTTPS: the patient gets the claim.
func TestHandlerOAuthEndToEnd(t *testing.T) {
	f := newOAuthFixture(t)
	h := newAuthHandler(t, AuthModeOAuth, f.v)
	srv := httptest.NewServer(h)
	defer srv.Close()
	token := f.token(t, nil)
	post := func(auth string) (int, []byte) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+DefaultPath, bytes.NewReader(specEvent(t, withLogin(specLogin))))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	for range 3 { // the first verifies, the others hit the cache
		status, body := post("Bearer " + token)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		var got protocol.Response
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(addClaim(DefaultClaim, "1235", protocol.IDToken), &got); diff != "" {
			t.Errorf("response (-want +got):\n%s", diff)
		}
	}
	if status, _ := post("Bearer " + f.token(t, func(c map[string]any) { c["cid"] = "0oaintruder" })); status != http.StatusUnauthorized {
		t.Errorf("another client's token: status %d; want 401", status)
	}
	if got := counterValue(t, h.metrics.authenticated[methodOAuth]); got != 3 {
		t.Errorf("authenticated oauth calls = %v; want 3", got)
	}
	if got := counterValue(t, h.metrics.authFailures["wrong_client"]); got != 1 {
		t.Errorf("wrong_client failures = %v; want 1", got)
	}
	if got := f.iss.Fetches(); got != 1 {
		t.Errorf("%d JWKS fetches; want 1", got)
	}
}

// TestHandlerOAuthAllocations: a cached token costs no allocation more than
// the shared secret.
func TestHandlerOAuthAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts vary under the race detector")
	}
	f := newOAuthFixture(t)
	body := specEvent(t, nil)
	allocs := func(mode AuthMode, auth string) float64 {
		h := newAuthHandler(t, mode, f.v)
		req := hookRequest(body)
		req.Header.Set("Authorization", auth)
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req) // verify once; then every call hits the cache
		n := testing.AllocsPerRun(200, func() {
			req.Body = io.NopCloser(bytes.NewReader(body))
			h.ServeHTTP(w, req)
		})
		if w.status != http.StatusOK {
			t.Fatalf("%s: status %d", mode, w.status)
		}
		return n
	}
	header := allocs(AuthModeHeader, testSecret)
	if oauth := allocs(AuthModeOAuth, "Bearer "+f.token(t, nil)); oauth > header+0.5 {
		t.Errorf("ServeHTTP allocates %v times per call with a cached token, %v with the secret", oauth, header)
	}
}

// BenchmarkHandlerAuth compares the handler with the shared secret and with a
// cached bearer token.
func BenchmarkHandlerAuth(b *testing.B) {
	f := newOAuthFixture(b)
	cases := []struct {
		name string
		mode AuthMode
		auth string
	}{
		{"header", AuthModeHeader, testSecret},
		{"oauth_cached", AuthModeOAuth, "Bearer " + f.token(b, nil)},
		{"both_oauth_cached", AuthModeBoth, "Bearer " + f.token(b, nil)},
		{"both_header", AuthModeBoth, testSecret},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := newAuthHandler(b, c.mode, f.v)
			body := specEvent(b, withLogin(specLogin))
			req := hookRequest(body)
			req.Header.Set("Authorization", c.auth)
			w := &discardWriter{h: http.Header{}}
			rd := bytes.NewReader(body)
			req.Body = io.NopCloser(rd)
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				h.ServeHTTP(w, req)
			}
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		})
	}
}

// BenchmarkServerLoopbackAuth is BenchmarkServerLoopback's hook, net/http
// included, with the shared secret and with a cached bearer token.
func BenchmarkServerLoopbackAuth(b *testing.B) {
	f := newOAuthFixture(b)
	for _, c := range []struct {
		name string
		mode AuthMode
		auth string
	}{
		{"header", AuthModeHeader, testSecret},
		{"oauth", AuthModeOAuth, "Bearer " + f.token(b, nil)},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := newAuthHandler(b, c.mode, f.v)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
				WriteTimeout: writeTimeout, IdleTimeout: idleTimeout}
			go func() { _ = srv.Serve(ln) }()
			defer func() { _ = srv.Close() }()
			body := specEvent(b, nil)
			req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n%s",
				DefaultPath, c.auth, len(body), body)
			const conns = 16
			var wg sync.WaitGroup
			work := make(chan struct{}, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for range conns {
				wg.Go(func() {
					conn, err := net.Dial("tcp", ln.Addr().String())
					if err != nil {
						b.Error(err)
						return
					}
					defer func() { _ = conn.Close() }()
					br := bufio.NewReader(conn)
					for range work {
						if _, err := conn.Write(req); err != nil {
							b.Error(err)
							return
						}
						res, err := http.ReadResponse(br, nil)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, res.Body)
						_ = res.Body.Close()
						if res.StatusCode != http.StatusOK {
							b.Errorf("status %d", res.StatusCode)
							return
						}
					}
				})
			}
			for b.Loop() {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
		})
	}
}

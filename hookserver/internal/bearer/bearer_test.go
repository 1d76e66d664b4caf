package bearer

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenhook/tokenhook/hookserver/internal/bearer/bearertest"
)

// clock is a settable time.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.set(time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC))
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

type fixture struct {
	iss   *bearertest.Issuer
	key   *bearertest.Key
	clock *clock
	v     *Verifier
}

func newFixture(t testing.TB, edit func(*Config)) *fixture {
	t.Helper()
	key := bearertest.NewKey(t, "key-1", 0)
	iss := bearertest.NewIssuer(t, key)
	clk := newClock()
	cfg := Config{
		Issuer: iss.URL, Audience: bearertest.Audience, ClientID: bearertest.ClientID, Scope: bearertest.Scope,
		Client: iss.Client(), Now: clk.now,
	}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{iss: iss, key: key, clock: clk, v: v}
}

// load fetches the keys, as Run does at start.
func (f *fixture) load(t testing.TB) {
	t.Helper()
	if err := f.v.refresh(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) token(t testing.TB, edit func(c map[string]any)) string {
	t.Helper()
	c := f.iss.Claims(f.clock.now())
	if edit != nil {
		edit(c)
	}
	return f.key.Sign(t, c)
}

func b64(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// hs256 signs claims with HMAC, keyed with the issuer's public key: the
// classic confusion attack on verifiers that trust the token's alg.
func hs256(t *testing.T, pub *rsa.PublicKey, kid string, claims map[string]any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(map[string]string{"alg": "HS256", "kid": kid}) + "." + b64(claims)
	mac := hmac.New(sha256.New, der)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerify(t *testing.T) {
	f := newFixture(t, nil)
	f.load(t)
	now := f.clock.now()
	other := bearertest.NewKey(t, "key-1", 1) // another key under the issuer's kid
	claims := func(edit func(c map[string]any)) map[string]any {
		c := f.iss.Claims(now)
		edit(c)
		return c
	}
	valid := f.token(t, nil)
	parts := strings.Split(valid, ".")
	cases := map[string]struct {
		token   string
		wantErr *Error
	}{
		"valid": {token: valid},
		"audience among several": {token: f.token(t, func(c map[string]any) {
			c["aud"] = []string{"api://other", bearertest.Audience}
		})},
		"scope among several": {token: f.token(t, func(c map[string]any) { c["scp"] = []string{"openid", bearertest.Scope} })},
		"expired within the skew": {token: f.token(t, func(c map[string]any) {
			c["exp"] = now.Add(-20 * time.Second).Unix()
		})},
		"nbf within the skew": {token: f.token(t, func(c map[string]any) { c["nbf"] = now.Add(20 * time.Second).Unix() })},

		"empty":           {token: "", wantErr: ErrMalformed},
		"not a JWT":       {token: "opaque-secret-value", wantErr: ErrMalformed},
		"four parts":      {token: valid + ".x", wantErr: ErrMalformed},
		"bad base64":      {token: "!!." + parts[1] + "." + parts[2], wantErr: ErrMalformed},
		"too long":        {token: valid + strings.Repeat("A", DefaultMaxTokenBytes), wantErr: ErrTooLong},
		"no kid":          {token: b64(map[string]string{"alg": "RS256"}) + "." + parts[1] + "." + parts[2], wantErr: ErrNoKeyID},
		"claims not JSON": {token: signRaw(t, f.key, "key-1", "not json"), wantErr: ErrClaims},
		"no exp":          {token: f.token(t, func(c map[string]any) { delete(c, "exp") }), wantErr: ErrClaims},
		"scp a string":    {token: f.token(t, func(c map[string]any) { c["scp"] = bearertest.Scope }), wantErr: ErrClaims},
		"alg none": {token: b64(map[string]string{"alg": "none", "kid": "key-1"}) + "." + parts[1] + ".",
			wantErr: ErrAlgorithm},
		"alg HS256 keyed with the public key": {token: hs256(t, &f.key.Priv.PublicKey, "key-1", f.iss.Claims(now)),
			wantErr: ErrAlgorithm},
		"signed by another key": {token: other.Sign(t, f.iss.Claims(now)), wantErr: ErrSignature},
		"payload tampered": {token: parts[0] + "." + b64(claims(func(c map[string]any) { c["scp"] = []string{"admin", bearertest.Scope} })) + "." + parts[2],
			wantErr: ErrSignature},
		"signature cut": {token: parts[0] + "." + parts[1] + ".", wantErr: ErrSignature},
		"unknown kid":   {token: f.key.SignAs(t, "key-unknown", f.iss.Claims(now)), wantErr: ErrUnknownKey},
		"expired": {token: f.token(t, func(c map[string]any) {
			c["iat"] = now.Add(-2 * time.Hour).Unix()
			c["exp"] = now.Add(-time.Minute).Unix()
		}), wantErr: ErrExpired},
		"not yet valid (nbf)": {token: f.token(t, func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() }),
			wantErr: ErrNotYetValid},
		"issued in the future": {token: f.token(t, func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }),
			wantErr: ErrNotYetValid},
		"wrong issuer":            {token: f.token(t, func(c map[string]any) { c["iss"] = "https://evil.example.com/oauth2/default" }), wantErr: ErrWrongIssuer},
		"issuer with a slash":     {token: f.token(t, func(c map[string]any) { c["iss"] = f.iss.URL + "/" }), wantErr: ErrWrongIssuer},
		"no issuer":               {token: f.token(t, func(c map[string]any) { delete(c, "iss") }), wantErr: ErrWrongIssuer},
		"wrong audience":          {token: f.token(t, func(c map[string]any) { c["aud"] = "api://default" }), wantErr: ErrWrongAudience},
		"no audience":             {token: f.token(t, func(c map[string]any) { delete(c, "aud") }), wantErr: ErrWrongAudience},
		"wrong client":            {token: f.token(t, func(c map[string]any) { c["cid"] = "0oaotherclient" }), wantErr: ErrWrongClient},
		"no client":               {token: f.token(t, func(c map[string]any) { delete(c, "cid") }), wantErr: ErrWrongClient},
		"missing scope":           {token: f.token(t, func(c map[string]any) { c["scp"] = []string{"openid"} }), wantErr: ErrMissingScope},
		"no scope":                {token: f.token(t, func(c map[string]any) { delete(c, "scp") }), wantErr: ErrMissingScope},
		"scope as a prefix":       {token: f.token(t, func(c map[string]any) { c["scp"] = []string{bearertest.Scope + ".admin"} }), wantErr: ErrMissingScope},
		"scope in sub, not scp":   {token: f.token(t, func(c map[string]any) { c["scp"] = []string{}; c["sub"] = bearertest.Scope }), wantErr: ErrMissingScope},
		"issuer wins over expiry": {token: f.token(t, func(c map[string]any) { c["iss"] = "x"; c["exp"] = 1 }), wantErr: ErrWrongIssuer},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := f.v.Verify(context.Background(), c.token)
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Verify = %v; want %v", err, c.wantErr)
			}
			if got := ReasonOf(err); got != c.wantErr.Reason {
				t.Errorf("ReasonOf = %q; want %q", got, c.wantErr.Reason)
			}
		})
	}
	// Every reason is covered above.
	covered := map[Reason]bool{}
	for _, c := range cases {
		if c.wantErr != nil {
			covered[c.wantErr.Reason] = true
		}
	}
	for _, r := range Reasons {
		if !covered[r] {
			t.Errorf("no case for reason %q", r)
		}
	}
}

// signRaw signs an arbitrary payload.
func signRaw(t *testing.T, k *bearertest.Key, kid, payload string) string {
	t.Helper()
	input := b64(map[string]string{"alg": "RS256", "kid": kid}) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.Priv, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestErrorsQuoteNothing(t *testing.T) {
	for _, e := range []*Error{ErrTooLong, ErrMalformed, ErrNoKeyID, ErrClaims, ErrAlgorithm, ErrSignature, ErrUnknownKey,
		ErrExpired, ErrNotYetValid, ErrWrongIssuer, ErrWrongAudience, ErrWrongClient, ErrMissingScope} {
		if !strings.HasPrefix(e.Error(), "bearer token refused: ") {
			t.Errorf("%q", e.Error())
		}
	}
	if got := ReasonOf(errors.New("other")); got != ReasonMalformed {
		t.Errorf("ReasonOf(other) = %q", got)
	}
	if got := ReasonOf(fmt.Errorf("wrapped: %w", ErrExpired)); got != ReasonExpired {
		t.Errorf("ReasonOf(wrapped) = %q", got)
	}
}

func TestKeyRotation(t *testing.T) {
	var fetched []FetchResult
	var mu sync.Mutex
	f := newFixture(t, func(c *Config) {
		c.OnFetch = func(r FetchResult) { mu.Lock(); fetched = append(fetched, r); mu.Unlock() }
	})
	f.load(t)
	old := f.token(t, nil)
	if err := f.v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}

	// Okta publishes the next key, then signs with it.
	next := bearertest.NewKey(t, "key-2", 1)
	f.iss.SetKeys(f.key, next)
	f.clock.advance(DefaultMinRefreshInterval)
	rotated := next.Sign(t, f.iss.Claims(f.clock.now()))
	if err := f.v.Verify(context.Background(), rotated); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	if got := f.iss.Fetches(); got != 2 {
		t.Errorf("%d fetches; want 2 (start, then the new kid)", got)
	}
	if err := f.v.Verify(context.Background(), old); err != nil {
		t.Errorf("token of the old key, still published: %v", err)
	}

	// The old key is retired: its tokens, cached or not, are refused.
	f.iss.SetKeys(next)
	f.clock.advance(DefaultMinRefreshInterval)
	if err := f.v.refresh(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if err := f.v.Verify(context.Background(), old); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("token of the retired key = %v; want %v", err, ErrUnknownKey)
	}
	if err := f.v.Verify(context.Background(), rotated); err != nil {
		t.Errorf("token of the new key after the old retired: %v", err)
	}
	// A fetch that finds the same keys changes nothing, and keeps the cache.
	f.clock.advance(DefaultMinRefreshInterval)
	if err := f.v.refresh(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if f.v.cache.len() == 0 {
		t.Error("an unchanged key set emptied the cache")
	}
	mu.Lock()
	defer mu.Unlock()
	var got [][]string
	var changed []bool
	for _, r := range fetched {
		got = append(got, r.KeyIDs)
		changed = append(changed, r.Changed)
	}
	if diff := cmp.Diff([][]string{{"key-1"}, {"key-1", "key-2"}, {"key-2"}, {"key-2"}}, got); diff != "" {
		t.Errorf("kids after each fetch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]bool{true, true, true, false}, changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
}

// TestRefreshRateBound: tokens with made-up kids, many and concurrent, cause
// one fetch per MinRefreshInterval, shared by the callers that wait for it.
func TestRefreshRateBound(t *testing.T) {
	f := newFixture(t, nil)
	f.load(t)
	forged := func(i int) string {
		return f.key.SignAs(t, fmt.Sprintf("made-up-%d", i), f.iss.Claims(f.clock.now()))
	}
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = forged(i)
	}
	verifyAll := func() {
		var wg sync.WaitGroup
		for range 4 {
			for _, tok := range tokens {
				wg.Go(func() {
					if err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
						t.Errorf("Verify = %v; want %v", err, ErrUnknownKey)
					}
				})
			}
		}
		wg.Wait()
	}

	// Within the interval of the start's fetch: no fetch at all.
	verifyAll()
	if got := f.iss.Fetches(); got != 1 {
		t.Errorf("within the interval: %d fetches; want 1 (the start's)", got)
	}
	// After it: one fetch, whose result all the concurrent callers share.
	f.clock.advance(DefaultMinRefreshInterval)
	release := f.iss.Hold()
	done := make(chan struct{})
	go func() { verifyAll(); close(done) }()
	time.Sleep(50 * time.Millisecond) // let the callers pile up on the held fetch
	release()
	<-done
	if got := f.iss.Fetches(); got != 2 {
		t.Errorf("after the interval: %d fetches; want 2", got)
	}
	// And the rate holds over time: one fetch per interval at most.
	for range 5 {
		f.clock.advance(DefaultMinRefreshInterval / 3)
		verifyAll()
	}
	if got := f.iss.Fetches(); got > 4 {
		t.Errorf("over 5/3 of an interval more: %d fetches; want at most 4", got)
	}
	// A valid token still passes, from the keys kept.
	if err := f.v.Verify(context.Background(), f.token(t, nil)); err != nil {
		t.Errorf("valid token after the flood: %v", err)
	}
}

func TestUnknownKidWaitIsBoundedByTheCaller(t *testing.T) {
	f := newFixture(t, nil)
	release := f.iss.Hold()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := f.v.Verify(ctx, f.token(t, nil)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify with keys held = %v; want %v", err, ErrUnknownKey)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Verify took %v; want about the caller's 50ms", took)
	}
}

func TestFailedRefreshKeepsKeys(t *testing.T) {
	var errs atomic.Int64
	f := newFixture(t, func(c *Config) {
		c.OnFetch = func(r FetchResult) {
			if r.Err != nil {
				errs.Add(1)
				if diff := cmp.Diff([]string{"key-1"}, r.KeyIDs); diff != "" {
					t.Errorf("kids after a failed fetch (-want +got):\n%s", diff)
				}
			}
		}
	})
	f.load(t)
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusNotFound} {
		f.iss.SetStatus(status)
		f.clock.advance(DefaultMinRefreshInterval)
		if err := f.v.refresh(context.Background(), true); err == nil || !strings.Contains(err.Error(), fmt.Sprint(status)) {
			t.Errorf("refresh against %d = %v", status, err)
		}
		if err := f.v.Verify(context.Background(), f.token(t, func(c map[string]any) { c["jti"] = fmt.Sprint(status) })); err != nil {
			t.Errorf("after a failed fetch (%d): %v", status, err)
		}
	}
	// A JWKS without a usable key is a failure too, not an empty key set.
	f.iss.SetStatus(http.StatusOK)
	f.iss.SetKeys()
	f.clock.advance(DefaultMinRefreshInterval)
	if err := f.v.refresh(context.Background(), true); err == nil {
		t.Error("refresh of an empty JWKS succeeded")
	}
	if err := f.v.Verify(context.Background(), f.token(t, func(c map[string]any) { c["jti"] = "empty" })); err != nil {
		t.Errorf("after an empty JWKS: %v", err)
	}
	if got := errs.Load(); got != 3 {
		t.Errorf("%d failed fetches reported; want 3", got)
	}
}

func TestCache(t *testing.T) {
	f := newFixture(t, nil)
	f.load(t)
	tok := f.token(t, nil)
	if err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if got := f.v.cache.len(); got != 1 {
		t.Fatalf("cache holds %d tokens; want 1", got)
	}
	// A hit needs no key: take them away.
	keys := f.v.keys.Load()
	f.v.keys.Store(&keySet{})
	if err := f.v.Verify(context.Background(), tok); err != nil {
		t.Errorf("cached token: %v", err)
	}
	allocs := testing.AllocsPerRun(100, func() { _ = f.v.Verify(context.Background(), tok) })
	if allocs != 0 {
		t.Errorf("a cache hit allocates %v times; want 0", allocs)
	}
	f.v.keys.Store(keys)
	// One byte off is another token.
	if err := f.v.Verify(context.Background(), tok[:len(tok)-2]+"AA"); !errors.Is(err, ErrSignature) {
		t.Errorf("altered cached token = %v; want %v", err, ErrSignature)
	}
	// The entry lives until exp; then the full check answers (skew included).
	f.clock.advance(time.Hour + 10*time.Second)
	if err := f.v.Verify(context.Background(), tok); err != nil {
		t.Errorf("10s after exp, within the skew: %v", err)
	}
	f.clock.advance(time.Minute)
	if err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Errorf("past exp and the skew = %v; want %v", err, ErrExpired)
	}
}

func always() bool { return true }

func TestCacheIsBounded(t *testing.T) {
	var c tokenCache
	c.max = 8
	now := time.Unix(1_800_000_000, 0)
	for i := range 100 {
		c.add(sha256.Sum256(fmt.Append(nil, i)), now.Add(time.Hour), now, always)
		if c.len() > c.max {
			t.Fatalf("after %d adds, %d entries; want at most %d", i+1, c.len(), c.max)
		}
	}
	last := sha256.Sum256(fmt.Append(nil, 99))
	if !c.valid(last, now) {
		t.Error("the token added last is not remembered")
	}
	// Expired tokens go first.
	later := now.Add(2 * time.Hour)
	c.add(sha256.Sum256([]byte("new")), later.Add(time.Hour), later, always)
	// A token verified with keys no longer in force is not remembered.
	c.add(sha256.Sum256([]byte("stale")), later.Add(time.Hour), later, func() bool { return false })
	if c.valid(sha256.Sum256([]byte("stale")), later) {
		t.Error("a token of replaced keys is remembered")
	}
	if c.len() != 1 {
		t.Errorf("after the others expired, %d entries; want 1", c.len())
	}
}

func TestRun(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MinRefreshInterval = 200 * time.Millisecond })
	f.iss.SetStatus(http.StatusBadGateway)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.v.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	if f.v.Loaded() {
		t.Fatal("loaded while the JWKS fails")
	}
	f.iss.SetStatus(http.StatusOK)
	wait, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := f.v.WaitLoaded(wait); err != nil {
		t.Fatalf("keys not loaded after the JWKS recovered: %v", err)
	}
	if got := f.iss.Fetches(); got < 2 {
		t.Errorf("%d fetches; want a retry after the failure", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestNew(t *testing.T) {
	base := Config{Issuer: "https://example.okta.com/oauth2/default", Audience: "api://default", ClientID: "0oa1", Scope: "hook"}
	v, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	c := v.Config()
	got := []any{c.JWKSURL, c.ClockSkew, c.MaxTokenBytes, c.MinRefreshInterval, c.CacheSize}
	want := []any{"https://example.okta.com/oauth2/default/v1/keys", DefaultClockSkew, DefaultMaxTokenBytes, DefaultMinRefreshInterval, DefaultCacheSize}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	cases := map[string]struct {
		edit    func(c *Config)
		wantErr string
	}{
		"nothing":        {func(c *Config) { *c = Config{} }, "needs: issuer, audience, client ID, scope"},
		"no scope":       {func(c *Config) { c.Scope = "" }, "needs: scope"},
		"HTTP issuer":    {func(c *Config) { c.Issuer = "http://example.okta.com/oauth2/default" }, "must be an https:// URL"},
		"HTTP JWKS":      {func(c *Config) { c.JWKSURL = "http://example.okta.com/keys" }, "must be an https:// URL"},
		"skew too large": {func(c *Config) { c.ClockSkew = time.Hour }, "clock skew"},
		"negative skew":  {func(c *Config) { c.ClockSkew = -time.Second }, "clock skew"},
		"negative limit": {func(c *Config) { c.MaxTokenBytes = -1 }, "max token bytes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New = %v; want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	good := bearertest.NewKey(t, "good", 0).JWK()
	weak, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // the weak key under test
	if err != nil {
		t.Fatal(err)
	}
	enc := good
	enc.KeyID, enc.Use = "enc", "enc"
	rs512 := good
	rs512.KeyID, rs512.Algorithm = "rs512", "RS512"
	noKid := good
	noKid.KeyID = ""
	keys := []any{
		good, enc, rs512, noKid,
		map[string]any{"kty": "RSA", "kid": "weak", "alg": "RS256", "n": base64.RawURLEncoding.EncodeToString(weak.N.Bytes()), "e": "AQAB"},
		map[string]any{"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"},
		map[string]any{"kty": "OKP", "kid": "okp"},
	}
	body, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for kid := range got {
		kids = append(kids, kid)
	}
	if diff := cmp.Diff([]string{"good"}, kids); diff != "" {
		t.Errorf("usable kids (-want +got):\n%s", diff)
	}
	for name, body := range map[string]string{"not JSON": "<html>", "no keys": `{"keys":[]}`, "no usable key": `{"keys":[{"kty":"EC"}]}`} {
		if _, err := parseJWKS([]byte(body)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestRedirectMustStayHTTPS(t *testing.T) {
	f := newFixture(t, nil)
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/keys", nil)
	if err := f.v.cfg.Client.CheckRedirect(req, nil); err == nil {
		t.Error("redirect to http:// allowed")
	}
	req, _ = http.NewRequest(http.MethodGet, "https://example.com/keys", nil)
	if err := f.v.cfg.Client.CheckRedirect(req, nil); err != nil {
		t.Errorf("redirect to https:// refused: %v", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	f := newFixture(b, nil)
	f.load(b)
	tok := f.token(b, nil)
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		if err := f.v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := f.v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The full check of a token not seen before: parse, RSA verification, claims.
	b.Run("cold", func(b *testing.B) {
		now := f.clock.now()
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := f.v.verify(ctx, tok, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("refused_unknown_kid", func(b *testing.B) {
		forged := f.key.SignAs(b, "made-up", f.iss.Claims(f.clock.now()))
		b.ReportAllocs()
		for b.Loop() {
			if err := f.v.Verify(ctx, forged); !errors.Is(err, ErrUnknownKey) {
				b.Fatal(err)
			}
		}
	})
}

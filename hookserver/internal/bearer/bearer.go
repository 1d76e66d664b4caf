// Package bearer verifies the OAuth 2.0 access tokens Okta sends on hook calls
// when the inline hook's channel is OAUTH: Okta gets a token from an Okta
// authorization server (client credentials grant) and calls the hook with
// "Authorization: Bearer <JWT>".
//
// A token is accepted if it is an RS256 JWS signed by a key of the issuer's
// JWKS, its iss is the issuer, its aud holds the audience, its cid is the
// client ID, its scp holds the scope, and exp, nbf and iat allow it now, give
// or take the clock skew.
//
// Keys are fetched over HTTPS from {issuer}/v1/keys, kept, and fetched again
// periodically and when a token names an unknown kid (Okta rotates its keys).
// A kid-driven fetch happens at most once per MinRefreshInterval, and callers
// share the one in flight, so tokens with made-up kids cannot make the hook
// server hammer Okta. A failed fetch keeps the keys in force.
//
// A verified token is remembered, by its SHA-256, until it expires: Okta reuses
// a token for its lifetime (an hour by default), so nearly every call costs
// one hash and one map lookup, not an RSA verification.
//
// The JOSE library is github.com/go-jose/go-jose/v4: maintained, already a
// dependency (the Okta simulator signs with it), its parser takes the list of
// allowed algorithms (only RS256 here, so "none" and HS256 with the public key
// as secret never reach a verifier), and it has no global key-fetching state:
// the fetching, rate limit and cache are this package's, small and tested.
package bearer

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults of Config.
const (
	DefaultClockSkew          = 30 * time.Second
	DefaultMaxTokenBytes      = 8 << 10
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultRefreshInterval    = time.Hour
	DefaultFetchTimeout       = 5 * time.Second
	DefaultCacheSize          = 1024

	// maxClockSkew bounds the skew: beyond it, expired tokens stay good too long.
	maxClockSkew = 5 * time.Minute
	// maxJWKSBytes bounds a JWKS document; Okta's is a few KB.
	maxJWKSBytes = 1 << 20
	// minRSABits refuses keys too weak to trust.
	minRSABits = 2048
)

// Reason says why a token was refused; it is the value of a metric label.
type Reason string

// Reasons a token is refused.
const (
	ReasonMalformed     Reason = "malformed_token" // not a compact JWS with a kid, too long, or unreadable claims
	ReasonBadSignature  Reason = "bad_signature"   // the signature does not verify, or is not RS256 (none, HS256, ...)
	ReasonUnknownKey    Reason = "unknown_kid"     // no key of the JWKS has the token's kid, even after a refresh
	ReasonExpired       Reason = "expired"
	ReasonNotYetValid   Reason = "not_yet_valid" // nbf or iat in the future
	ReasonWrongIssuer   Reason = "wrong_issuer"
	ReasonWrongAudience Reason = "wrong_audience"
	ReasonWrongClient   Reason = "wrong_client"
	ReasonMissingScope  Reason = "missing_scope"
)

// Reasons lists every Reason, for metrics.
var Reasons = []Reason{ReasonMalformed, ReasonBadSignature, ReasonUnknownKey, ReasonExpired, ReasonNotYetValid,
	ReasonWrongIssuer, ReasonWrongAudience, ReasonWrongClient, ReasonMissingScope}

// Error is a refused token. Errors are fixed values: a refusal allocates
// nothing and quotes nothing from the token.
type Error struct {
	Reason Reason
	msg    string
}

func (e *Error) Error() string { return "bearer token refused: " + e.msg }

// The errors Verify returns.
var (
	ErrTooLong       = &Error{ReasonMalformed, "longer than the limit"}
	ErrMalformed     = &Error{ReasonMalformed, "not a compact JWS"}
	ErrNoKeyID       = &Error{ReasonMalformed, "no kid in the header"}
	ErrClaims        = &Error{ReasonMalformed, "claims unreadable, or exp missing"}
	ErrAlgorithm     = &Error{ReasonBadSignature, "algorithm is not RS256"}
	ErrSignature     = &Error{ReasonBadSignature, "signature does not verify"}
	ErrUnknownKey    = &Error{ReasonUnknownKey, "no signing key with its kid"}
	ErrExpired       = &Error{ReasonExpired, "expired"}
	ErrNotYetValid   = &Error{ReasonNotYetValid, "not valid yet"}
	ErrWrongIssuer   = &Error{ReasonWrongIssuer, "wrong issuer"}
	ErrWrongAudience = &Error{ReasonWrongAudience, "wrong audience"}
	ErrWrongClient   = &Error{ReasonWrongClient, "wrong client ID"}
	ErrMissingScope  = &Error{ReasonMissingScope, "required scope missing"}
)

// ReasonOf is the reason of an error from Verify, or ReasonMalformed for any other error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonMalformed
}

// Config configures a Verifier. Issuer, Audience, ClientID and Scope are required.
type Config struct {
	// Issuer is the authorization server's issuer, which iss must equal
	// exactly, e.g. https://example.okta.com/oauth2/default. It must be HTTPS.
	Issuer string
	// Audience must be one of the token's aud, e.g. api://default.
	Audience string
	// ClientID must equal the token's cid: the app Okta's channel authenticates as.
	ClientID string
	// Scope must be one of the token's scp: the channel's scope.
	Scope string
	// JWKSURL is where the signing keys are (default Issuer + "/v1/keys"); HTTPS only.
	JWKSURL string
	// Client fetches the JWKS (default: a client trusting the system roots).
	// Its redirects, if any, must stay on HTTPS.
	Client *http.Client
	// ClockSkew is the tolerance on exp, nbf and iat (0: DefaultClockSkew; at most 5 minutes).
	ClockSkew time.Duration
	// MaxTokenBytes refuses longer tokens unread (0: DefaultMaxTokenBytes).
	MaxTokenBytes int
	// MinRefreshInterval is the least time between two fetches caused by an
	// unknown kid (0: DefaultMinRefreshInterval).
	MinRefreshInterval time.Duration
	// RefreshInterval is how often Run fetches the keys anyway, which drops
	// keys Okta retired (0: DefaultRefreshInterval).
	RefreshInterval time.Duration
	// FetchTimeout bounds one JWKS fetch (0: DefaultFetchTimeout).
	FetchTimeout time.Duration
	// CacheSize bounds the verified tokens remembered (0: DefaultCacheSize).
	CacheSize int
	// OnFetch, if set, is told the outcome of every JWKS fetch.
	OnFetch func(FetchResult)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// FetchResult is the outcome of one JWKS fetch.
type FetchResult struct {
	// KeyIDs are the kids in force after the fetch (the old ones after an error).
	KeyIDs []string
	// Changed says the fetch changed the keys in force.
	Changed bool
	Err     error
	Took    time.Duration
}

// Verifier verifies bearer tokens. It is safe for concurrent use.
type Verifier struct {
	cfg     Config
	keys    atomic.Pointer[keySet] // nil until a fetch succeeds; replaced only on a change
	cache   tokenCache
	loaded  chan struct{} // closed at the first successful fetch
	onFirst sync.Once

	mu        sync.Mutex
	lastFetch time.Time  // start of the last fetch
	inflight  *fetchCall // the fetch in progress, if any
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// New checks the configuration. It fetches nothing: keys come with Run, or
// with the first token to verify.
func New(cfg Config) (*Verifier, error) {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"issuer", cfg.Issuer}, {"audience", cfg.Audience}, {"client ID", cfg.ClientID}, {"scope", cfg.Scope},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("OAuth token check needs: %s", strings.Join(missing, ", "))
	}
	if err := checkHTTPS("issuer", cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = strings.TrimSuffix(cfg.Issuer, "/") + "/v1/keys"
	}
	if err := checkHTTPS("JWKS URL", cfg.JWKSURL); err != nil {
		return nil, err
	}
	switch {
	case cfg.ClockSkew < 0 || cfg.ClockSkew > maxClockSkew:
		return nil, fmt.Errorf("clock skew %v is not between 0 and %v", cfg.ClockSkew, maxClockSkew)
	case cfg.MaxTokenBytes < 0:
		return nil, fmt.Errorf("max token bytes %d is negative", cfg.MaxTokenBytes)
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.MaxTokenBytes == 0 {
		cfg.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	client := *cfg.Client
	prev := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return errors.New("JWKS redirect leaves HTTPS")
		}
		if prev != nil {
			return prev(req, via)
		}
		if len(via) >= 5 {
			return errors.New("too many JWKS redirects")
		}
		return nil
	}
	cfg.Client = &client
	v := &Verifier{cfg: cfg, loaded: make(chan struct{})}
	v.cache.max = cfg.CacheSize
	return v, nil
}

func checkHTTPS(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, raw, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%s %q must be an https:// URL", what, raw)
	}
	return nil
}

// Config is the configuration in force, defaults filled in.
func (v *Verifier) Config() Config { return v.cfg }

// Loaded reports whether keys were fetched at least once.
func (v *Verifier) Loaded() bool { return v.keys.Load() != nil }

// WaitLoaded waits until keys were fetched at least once, or ctx is done.
func (v *Verifier) WaitLoaded(ctx context.Context) error {
	select {
	case <-v.loaded:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Verify checks token, the part of the Authorization header after "Bearer ".
// It returns nil or an *Error. A token with an unknown kid may wait for a JWKS
// fetch, at most until ctx is done.
func (v *Verifier) Verify(ctx context.Context, token string) error {
	if len(token) > v.cfg.MaxTokenBytes {
		return ErrTooLong
	}
	key := digest(token)
	now := v.cfg.Now()
	if v.cache.valid(key, now) {
		return nil
	}
	// Cheap refusal of what is no JWS at all, such as a shared secret in both mode.
	if strings.Count(token, ".") != 2 {
		return ErrMalformed
	}
	exp, keys, err := v.verify(ctx, token, now)
	if err != nil {
		return err
	}
	if exp.After(now) {
		v.cache.add(key, exp, now, func() bool { return v.keys.Load() == keys })
	}
	return nil
}

// digestBuf fits usual tokens, so hashing one copies it on the stack rather
// than allocating.
const digestBuf = 4 << 10

func digest(token string) [sha256.Size]byte {
	var buf [digestBuf]byte
	return sha256.Sum256(append(buf[:0], token...))
}

// claims are those checked, as Okta's access tokens carry them.
type claims struct {
	Issuer    string           `json:"iss"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ClientID  string           `json:"cid"`
	Scopes    []string         `json:"scp"`
}

var allowedAlgorithms = []jose.SignatureAlgorithm{jose.RS256}

// keySet is the signing keys in force, by kid.
type keySet = map[string]*rsa.PublicKey

// verify is the full check, without the cache. It returns the token's expiry
// and the key set that verified it.
func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (time.Time, *keySet, error) {
	var none time.Time
	jws, err := jose.ParseSignedCompact(token, allowedAlgorithms)
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return none, nil, ErrAlgorithm
		}
		return none, nil, ErrMalformed
	}
	if len(jws.Signatures) != 1 {
		return none, nil, ErrMalformed
	}
	kid := jws.Signatures[0].Header.KeyID
	if kid == "" {
		return none, nil, ErrNoKeyID
	}
	keys := v.keys.Load()
	pub := lookup(keys, kid)
	if pub == nil {
		// A new key after a rotation, or a made-up kid: refresh, within the rate limit.
		_ = v.refresh(ctx, true)
		keys = v.keys.Load()
		if pub = lookup(keys, kid); pub == nil {
			return none, nil, ErrUnknownKey
		}
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return none, nil, ErrSignature
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil || c.Expiry == nil {
		return none, nil, ErrClaims
	}
	skew := v.cfg.ClockSkew
	exp := c.Expiry.Time()
	switch {
	case c.Issuer != v.cfg.Issuer:
		return none, nil, ErrWrongIssuer
	case now.After(exp.Add(skew)):
		return none, nil, ErrExpired
	case c.NotBefore != nil && now.Add(skew).Before(c.NotBefore.Time()),
		c.IssuedAt != nil && now.Add(skew).Before(c.IssuedAt.Time()):
		return none, nil, ErrNotYetValid
	case !c.Audience.Contains(v.cfg.Audience):
		return none, nil, ErrWrongAudience
	case c.ClientID != v.cfg.ClientID:
		return none, nil, ErrWrongClient
	case !slices.Contains(c.Scopes, v.cfg.Scope):
		return none, nil, ErrMissingScope
	}
	return exp, keys, nil
}

func lookup(keys *keySet, kid string) *rsa.PublicKey {
	if keys != nil {
		return (*keys)[kid]
	}
	return nil
}

// Run fetches the keys until ctx is done: at once, then every
// RefreshInterval; after a failure, again after 1 s, doubling up to
// MinRefreshInterval. These fetches ignore the rate limit of kid-driven ones.
func (v *Verifier) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		wait := v.cfg.RefreshInterval
		if err := v.refresh(ctx, false); err != nil {
			// A fetch cut short by ctx ends below.
			wait = backoff
			backoff = min(2*backoff, v.cfg.MinRefreshInterval)
		} else {
			backoff = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

var errRateLimited = errors.New("JWKS fetched too recently")

// refresh fetches the keys, or waits for the fetch in flight. rateLimited
// refuses to start a fetch less than MinRefreshInterval after the last one.
func (v *Verifier) refresh(ctx context.Context, rateLimited bool) error {
	v.mu.Lock()
	c := v.inflight
	if c == nil {
		now := v.cfg.Now()
		if rateLimited && !v.lastFetch.IsZero() && now.Sub(v.lastFetch) < v.cfg.MinRefreshInterval {
			v.mu.Unlock()
			return errRateLimited
		}
		c = &fetchCall{done: make(chan struct{})}
		v.inflight, v.lastFetch = c, now
		// The fetch outlives the caller that started it: others may wait for it.
		go v.fetch(c)
	}
	v.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (v *Verifier) fetch(c *fetchCall) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.FetchTimeout)
	keys, err := v.download(ctx)
	cancel()
	changed := false
	if err == nil {
		changed = v.setKeys(keys)
	}
	if v.cfg.OnFetch != nil {
		var kids []string
		if cur := v.keys.Load(); cur != nil {
			for kid := range *cur {
				kids = append(kids, kid)
			}
			slices.Sort(kids)
		}
		v.cfg.OnFetch(FetchResult{KeyIDs: kids, Changed: changed, Err: err, Took: time.Since(start)})
	}
	v.mu.Lock()
	v.inflight = nil
	v.mu.Unlock()
	c.err = err
	close(c.done)
}

// setKeys puts keys in force and reports whether they changed. Verified
// tokens are forgotten if a key left or changed: Okta may have retired it.
// A token verified with the old keys while they are replaced is not
// remembered (see tokenCache.add).
func (v *Verifier) setKeys(keys keySet) bool {
	defer v.onFirst.Do(func() { close(v.loaded) })
	old := v.keys.Load()
	if old == nil {
		v.keys.Store(&keys)
		return true
	}
	retired := false
	for kid, k := range *old {
		if nk := keys[kid]; nk == nil || !nk.Equal(k) {
			retired = true
		}
	}
	if !retired && len(*old) == len(keys) {
		return false
	}
	v.keys.Store(&keys)
	if retired {
		v.cache.clear()
	}
	return true
}

// download fetches and parses the JWKS. Keys other than RSA signing keys
// for RS256 are skipped; a set with none is an error.
func (v *Verifier) download(ctx context.Context) (keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS %s: status %d", v.cfg.JWKSURL, res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS %s is larger than %d bytes", v.cfg.JWKSURL, maxJWKSBytes)
	}
	return parseJWKS(body)
}

func parseJWKS(body []byte) (keySet, error) {
	// Key by key: one key of a type go-jose cannot read must not hide the others.
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	keys := keySet{}
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		switch {
		case !ok, k.KeyID == "", k.Use != "" && k.Use != "sig",
			k.Algorithm != "" && k.Algorithm != string(jose.RS256), pub.N.BitLen() < minRSABits:
			continue
		}
		keys[k.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("JWKS holds no RSA signing key for RS256 of at least 2048 bits")
	}
	return keys, nil
}

// tokenCache remembers verified tokens by digest until they expire. Reads
// take no lock: the map is replaced, never changed, and new tokens are rare
// (Okta reuses one for its lifetime).
type tokenCache struct {
	m   atomic.Pointer[map[[sha256.Size]byte]int64] // expiry, Unix nanoseconds
	mu  sync.Mutex                                  // serializes writers
	max int
}

func (c *tokenCache) valid(key [sha256.Size]byte, now time.Time) bool {
	m := c.m.Load()
	if m == nil {
		return false
	}
	exp, ok := (*m)[key]
	return ok && now.UnixNano() < exp
}

// add remembers a token until exp, if current (checked under the lock that
// clear takes) still holds: the keys that verified it are in force.
func (c *tokenCache) add(key [sha256.Size]byte, exp, now time.Time, current func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !current() {
		return
	}
	var old map[[sha256.Size]byte]int64
	if p := c.m.Load(); p != nil {
		old = *p
	}
	next := make(map[[sha256.Size]byte]int64, min(len(old)+1, c.max))
	nowNs := now.UnixNano()
	for k, e := range old {
		// Drop expired tokens, and any beyond the bound (map order is arbitrary).
		if e > nowNs && len(next) < c.max-1 {
			next[k] = e
		}
	}
	next[key] = exp.UnixNano()
	c.m.Store(&next)
}

func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m.Store(nil)
}

// len is the number of tokens remembered, expired ones included.
func (c *tokenCache) len() int {
	if m := c.m.Load(); m != nil {
		return len(*m)
	}
	return 0
}

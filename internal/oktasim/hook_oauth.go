package oktasim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
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

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// OAUTH channels (SPEC 3.2): before calling the hook, Okta gets an access token with the client
// credentials grant at the channel's tokenUrl, authenticating as clientId with client_secret_post
// or with a private_key_jwt assertion signed by the hook key hookKeyId, and calls the hook with
// "Authorization: Bearer <token>". The token is reused until it expires. Getting it counts
// against the hook's timeout, and when it fails the hook call fails: the tokens being minted are
// issued unpatched.
//
// A tokenUrl in the org itself (the origin the token request came to) is served in process,
// through ServeHTTP like any request (call log, faults); any other goes over the network with
// Options.HookClient.

// hookAssertionLifetime is the lifetime of the client assertions Okta signs with hook keys
// (unconfirmed).
const hookAssertionLifetime = 5 * time.Minute

// hookTokenMargin: a cached access token is not used in its last seconds, so it does not
// expire on its way to the hook (Okta's margin is unconfirmed).
const hookTokenMargin = 30 * time.Second

// maxTokenResponse bounds the token endpoint's answer the simulator reads.
const maxTokenResponse = 64 << 10

// hookTokenCache keeps each OAUTH channel's access token.
type hookTokenCache struct {
	mu     sync.Mutex
	tokens map[string]cachedHookToken // by hook ID
}

type cachedHookToken struct {
	config  OAuthChannel // what it was got with: a changed channel gets a new token
	token   string
	expires time.Time
}

func (c *hookTokenCache) get(hookID string, cfg OAuthChannel, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.tokens[hookID]
	if !ok || t.config != cfg || !now.Add(hookTokenMargin).Before(t.expires) {
		return "", false
	}
	return t.token, true
}

func (c *hookTokenCache) put(hookID string, t cachedHookToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokens == nil {
		c.tokens = map[string]cachedHookToken{}
	}
	c.tokens[hookID] = t
}

// ForgetHookTokens drops the cached access tokens of OAUTH channels, so the next hook call
// gets a new one.
func (s *Sim) ForgetHookTokens() {
	c := &s.mint.hookTokens
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens = nil
}

// hookChain is the context of a token request made for an OAUTH channel: the hooks whose token
// requests are in progress. A token request that would run one of them again never ends (its
// rule calls the hook, which needs a token first, …): Okta's support warns against securing a
// hook with tokens of the authorization server whose rule calls it. The simulator waits out
// the hook's timeout as Okta would, and says why.
type hookChain struct {
	hookIDs []string
	loop    *atomic.Bool // set when the chain came back to one of its hooks
}

type hookChainKey struct{}

// hookAccessToken returns the channel's access token, from the cache or the token endpoint;
// fetched says whether it asked the token endpoint.
func (s *Sim) hookAccessToken(ctx context.Context, base string, hook Hook) (token string, fetched bool, err error) {
	cfg := *hook.Channel.OAuth
	if tok, ok := s.mint.hookTokens.get(hook.ID, cfg, s.now()); ok {
		return tok, false, nil
	}
	tok, expires, err := s.requestHookToken(ctx, base, hook.ID, cfg)
	if err != nil {
		return "", true, fmt.Errorf("get an access token from %s: %w", redactURL(cfg.TokenURL), err)
	}
	s.mint.hookTokens.put(hook.ID, cachedHookToken{config: cfg, token: tok, expires: expires})
	return tok, true, nil
}

// requestHookToken is the client credentials grant at cfg.TokenURL.
func (s *Sim) requestHookToken(ctx context.Context, base, hookID string, cfg OAuthChannel) (string, time.Time, error) {
	now := s.now()
	form := url.Values{"grant_type": {GrantClientCredentials}}
	if cfg.Scope != "" {
		form.Set("scope", cfg.Scope)
	}
	switch cfg.AuthType {
	case OAuthClientSecretPost:
		form.Set("client_id", cfg.ClientID)
		form.Set("client_secret", cfg.ClientSecret)
	case OAuthPrivateKeyJWT:
		a, err := s.hookAssertion(cfg, now)
		if err != nil {
			return "", time.Time{}, err
		}
		form.Set("client_assertion_type", assertionType)
		form.Set("client_assertion", a)
	default:
		return "", time.Time{}, fmt.Errorf("authType %q is not supported", cfg.AuthType)
	}

	parent, _ := ctx.Value(hookChainKey{}).(hookChain)
	chain := hookChain{hookIDs: append(slices.Clone(parent.hookIDs), hookID), loop: parent.loop}
	if chain.loop == nil {
		chain.loop = &atomic.Bool{}
	}
	ctx = context.WithValue(ctx, hookChainKey{}, chain)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, errors.New("the tokenUrl is not a URL")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	client := s.mint.hookClient
	if sameOrigin(cfg.TokenURL, base) {
		client = &http.Client{Transport: selfTransport{s}, CheckRedirect: client.CheckRedirect}
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL is named, redacted, by the caller
		}
		err = hookError(err, s.mint.hookTimeout)
		if chain.loop.Load() {
			err = fmt.Errorf("%w: the token request ran inline hook %s again, whose OAUTH channel needs a token from the same authorization server first", err, hookID)
		}
		return "", time.Time{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return "", time.Time{}, hookError(err, s.mint.hookTimeout)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			return "", time.Time{}, fmt.Errorf("the token endpoint answered %d", resp.StatusCode)
		}
		// Okta's OAuth errors name no secrets; the description is kept for the call log.
		return "", time.Time{}, fmt.Errorf("the token endpoint answered %d %s: %s", resp.StatusCode, e.Error, e.Description)
	}
	var t struct {
		TokenType   string `json:"token_type"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" || !strings.EqualFold(t.TokenType, "Bearer") || t.ExpiresIn <= 0 {
		return "", time.Time{}, errors.New("the token endpoint answered no Bearer access token with an expires_in")
	}
	return t.AccessToken, now.Add(time.Duration(t.ExpiresIn) * time.Second), nil
}

// hookAssertion is the private_key_jwt client assertion Okta signs with the channel's hook key:
// RS256, kid the key's keyId, iss and sub the client ID, aud the tokenUrl, a new jti.
func (s *Sim) hookAssertion(cfg OAuthChannel, now time.Time) (string, error) {
	kid, key, apiErr := s.org.hookKeySigner(cfg.HookKeyID)
	if apiErr != nil {
		return "", fmt.Errorf("hook key %s does not exist", cfg.HookKeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	claims := jwt.Claims{
		Issuer: cfg.ClientID, Subject: cfg.ClientID, Audience: jwt.Audience{cfg.TokenURL},
		ID: rand.Text(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(hookAssertionLifetime)),
	}
	a, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign the client assertion: %w", err)
	}
	return a, nil
}

// hookRecursion reports whether a token request for an OAUTH channel is running this hook
// again, and if so marks the loop.
func hookRecursion(ctx context.Context, hookID string) bool {
	chain, ok := ctx.Value(hookChainKey{}).(hookChain)
	if !ok || !slices.Contains(chain.hookIDs, hookID) {
		return false
	}
	chain.loop.Store(true)
	return true
}

func sameOrigin(rawURL, base string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	b, err := url.Parse(base)
	return err == nil && strings.EqualFold(u.Scheme, b.Scheme) && strings.EqualFold(u.Host, b.Host)
}

// redactURL drops the query and credentials of a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the tokenUrl"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// selfTransport serves a request of the simulator to itself in process.
type selfTransport struct{ s *Sim }

func (t selfTransport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.Host = req.URL.Host
	in.RemoteAddr = "127.0.0.1:0"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	if req.URL.Scheme == "https" {
		in.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: req.URL.Hostname()}
	}
	rec := &bufferedResponse{header: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler { //nolint:errorlint // a sentinel panic value, as net/http compares it
				panic(p)
			}
			resp, err = nil, errors.New("the connection was closed without a response")
		}
	}()
	t.s.ServeHTTP(rec, in)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.header, Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()), Request: req,
	}, nil
}

// bufferedResponse is an http.ResponseWriter that keeps what was written.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

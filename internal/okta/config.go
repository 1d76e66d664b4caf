package okta

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"
)

// Defaults for the zero values of Config.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxRetries     = 2 // the SDK's default: 3 attempts in all
	DefaultMaxBackoff     = 30 * time.Second
)

// DefaultScopes are the OAuth scopes requested in PrivateKey mode when Config.Scopes is empty.
var DefaultScopes = []string{"okta.inlineHooks.manage", "okta.authorizationServers.manage"}

// Config configures NewClient. Authenticate with exactly one of APIToken (SSWS) or
// ClientID+PrivateKey (an OAuth 2.0 service app, which Okta recommends for automation).
type Config struct {
	OrgURL string // https://example.okta.com

	APIToken string // SSWS API token

	ClientID     string
	PrivateKey   []byte // PEM RSA key, PKCS#1 or PKCS#8, at least 2048 bits
	PrivateKeyID string // kid of the key registered with the service app; optional
	Scopes       []string

	// RequestTimeout bounds one call including its 429 retries. 0 selects DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxRetries is how often a 429 is retried. 0 selects DefaultMaxRetries; negative disables.
	MaxRetries int32
	// MaxBackoff caps the wait before a 429 retry; the SDK waits until X-Rate-Limit-Reset.
	// 0 selects DefaultMaxBackoff; negative retries at once (tests). It is capped at RequestTimeout.
	MaxBackoff time.Duration

	// HTTPClient is used for every request, e.g. to trust the simulator's CA. Its Timeout is
	// lowered to RequestTimeout if unset or longer.
	HTTPClient *http.Client
	// AllowHTTP accepts an http:// OrgURL. Tests only.
	AllowHTTP bool
}

// settings is a validated Config.
type settings struct {
	orgURL     string
	timeout    time.Duration
	maxRetries int32
	backoffSec int64
	token      string
	clientID   string
	keyPEM     string // PKCS#1, the only form the SDK reads
	keyID      string
	scopes     []string
	httpClient *http.Client
	allowHTTP  bool
}

// validate checks c. Its errors never contain the token or the key.
func (c Config) validate() (settings, error) {
	s := settings{allowHTTP: c.AllowHTTP}
	u, err := url.Parse(strings.TrimSpace(c.OrgURL))
	switch {
	case c.OrgURL == "":
		return s, errors.New("okta config: OrgURL is required")
	case err != nil:
		return s, errors.New("okta config: OrgURL is not a URL")
	case u.User != nil:
		return s, errors.New("okta config: OrgURL must not contain credentials")
	case u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return s, fmt.Errorf("okta config: OrgURL must be a bare origin such as https://example.okta.com, got %q", u.Redacted())
	case u.Scheme != "https" && (!c.AllowHTTP || u.Scheme != "http"):
		return s, fmt.Errorf("okta config: OrgURL must use https, got %q", u.Redacted())
	}
	s.orgURL = u.Scheme + "://" + u.Host

	token := strings.TrimSpace(c.APIToken)
	keyMode := c.ClientID != "" || len(c.PrivateKey) > 0
	switch {
	case token != "" && keyMode:
		return s, errors.New("okta config: set either APIToken or ClientID with PrivateKey, not both")
	case token == "" && !keyMode:
		return s, errors.New("okta config: set APIToken, or ClientID with PrivateKey")
	case keyMode && (c.ClientID == "" || len(c.PrivateKey) == 0):
		return s, errors.New("okta config: PrivateKey mode needs both ClientID and PrivateKey")
	case token != "":
		s.token = token
	default:
		s.clientID = c.ClientID
		s.keyID = c.PrivateKeyID
		s.scopes = c.Scopes
		if len(s.scopes) == 0 {
			s.scopes = DefaultScopes
		}
		if s.keyPEM, err = pkcs1PEM(c.PrivateKey); err != nil {
			return s, err
		}
	}

	s.timeout = c.RequestTimeout
	switch {
	case s.timeout < 0:
		return s, errors.New("okta config: RequestTimeout must not be negative")
	case s.timeout == 0:
		s.timeout = DefaultRequestTimeout
	}
	s.maxRetries = c.MaxRetries
	switch {
	case s.maxRetries < 0:
		s.maxRetries = 0
	case s.maxRetries == 0:
		s.maxRetries = DefaultMaxRetries
	}
	backoff := c.MaxBackoff
	switch {
	case backoff < 0:
		backoff = 0
	case backoff == 0:
		backoff = DefaultMaxBackoff
	}
	// A wait past the call's deadline could only end in a timeout.
	backoff = min(backoff, s.timeout)
	s.backoffSec = int64((backoff + time.Second - 1) / time.Second) // the SDK counts whole seconds

	if c.HTTPClient != nil {
		hc := *c.HTTPClient
		s.httpClient = &hc
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.IdleConnTimeout = 30 * time.Second // the SDK's own default: fewer stale keep-alives
		s.httpClient = &http.Client{Transport: t}
	}
	next := s.httpClient.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	s.httpClient.Transport = eofGuard{next: next}
	// The PrivateKey token request ignores the context: only this timeout bounds it.
	if s.httpClient.Timeout == 0 || s.httpClient.Timeout > s.timeout {
		s.httpClient.Timeout = s.timeout
	}
	return s, nil
}

// pkcs1PEM accepts a PKCS#1 or PKCS#8 RSA key and returns it as the PKCS#1 PEM the SDK reads.
func pkcs1PEM(keyPEM []byte) (string, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return "", errors.New("okta config: PrivateKey is not PEM")
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("okta config: PrivateKey: %w", err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return "", fmt.Errorf("okta config: PrivateKey: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return "", errors.New("okta config: PrivateKey must be an RSA key (Okta signs client assertions with RS256)")
		}
		key = rk
	default:
		return "", fmt.Errorf("okta config: PrivateKey has PEM type %q, want RSA PRIVATE KEY or PRIVATE KEY", block.Type)
	}
	if key.N.BitLen() < 2048 {
		return "", fmt.Errorf("okta config: PrivateKey has %d bits, Okta requires at least 2048", key.N.BitLen())
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})), nil
}

// NewClient returns the SDK-backed Client. It does not call Okta.
//
// The SDK's cache is off (it serves stale status after lifecycle calls), 429s are retried per the
// SDK's rules (MaxRetries, waits until X-Rate-Limit-Reset capped by MaxBackoff), and every call is
// bounded by RequestTimeout, so a dropped connection, which the SDK retries without limit, cannot
// hang the caller.
func NewClient(ctx context.Context, cfg Config) (Client, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	// Setters win over ~/.okta/okta.yaml and OKTA_CLIENT_* variables, which the SDK also reads:
	// set everything we depend on.
	setters := []oktasdk.ConfigSetter{
		oktasdk.WithOrgUrl(s.orgURL),
		oktasdk.WithCache(false),
		oktasdk.WithRequestTimeout(0), // our own context deadline, finer than the SDK's seconds
		oktasdk.WithRateLimitMaxRetries(s.maxRetries),
		oktasdk.WithRateLimitMaxBackOff(s.backoffSec),
		oktasdk.WithHttpClientPtr(s.httpClient),
		oktasdk.WithTestingDisableHttpsCheck(s.allowHTTP),
		oktasdk.WithUserAgentExtra("tokenhook"),
	}
	if s.token != "" {
		setters = append(setters, oktasdk.WithAuthorizationMode("SSWS"), oktasdk.WithToken(s.token))
	} else {
		setters = append(setters,
			oktasdk.WithAuthorizationMode("PrivateKey"),
			oktasdk.WithToken(""),
			oktasdk.WithClientId(s.clientID),
			oktasdk.WithScopes(s.scopes),
			oktasdk.WithPrivateKey(s.keyPEM),
			oktasdk.WithPrivateKeyId(s.keyID),
		)
	}
	_, sdk, err := oktasdk.NewClient(ctx, setters...)
	if err != nil {
		return nil, fmt.Errorf("create Okta SDK client: %w", err)
	}
	return &sdkClient{sdk: sdk, timeout: s.timeout}, nil
}

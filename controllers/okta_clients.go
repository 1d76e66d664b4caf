package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/oktacache"
)

// Keys of the Okta credentials Secret.
const (
	credAPIToken     = "apiToken"
	credClientID     = "clientID"
	credPrivateKey   = "privateKey"
	credPrivateKeyID = "privateKeyID"
	// credScopes, optional: the space-separated OAuth scopes a service app
	// asks for, instead of the operator's default (okta.DefaultScopes, with
	// okta.apps.manage for privateKeyJWT.registerInApp), e.g. to add
	// okta.apps.read, which lets the operator see whether an admin added a
	// hook key to an app's JWKS. Okta refuses a token for a scope the app
	// was not granted, so the default asks for no optional one.
	credScopes = "scopes"
)

// OktaClientFactory builds a client for one org and credentials; tests swap
// it to count or fail calls.
type OktaClientFactory func(ctx context.Context, cfg okta.Config) (okta.Client, error)

// oktaClients keeps one client per org and credentials, so an OAuth access
// token is reused across reconciles, and per org the budget and the listings
// that every TokenHook of the org shares: the operator never takes more than
// its share of the org's per-minute API budget, and one listing of an org's
// hooks serves the drift checks of all its TokenHooks. A client unused for
// idleTTL is dropped: rotated credentials would otherwise keep their old
// client (and its key material) in memory until the manager restarts.
type oktaClients struct {
	newClient      OktaClientFactory
	metrics        *okta.Metrics
	baseHTTP       *http.Client // nil: a clone of http.DefaultTransport
	callsPerMinute int          // per org; 0: unlimited
	cacheMaxAge    time.Duration
	clock          clock.PassiveClock
	idleTTL        time.Duration

	mu        sync.Mutex
	clients   map[string]*cachedClient
	orgs      map[string]*oktaOrg
	lastSweep time.Time
}

// oktaOrg is what the TokenHooks of one org share.
type oktaOrg struct {
	budget   *orgBudget
	listings *oktacache.Org
}

type cachedClient struct {
	client   okta.Client
	lastUsed time.Time
}

// ruleFreshFor bounds how old a rule's listing may be when the rule is
// written back whole (Okta has no conditional PUT): an admin's edit made in
// the last seconds could otherwise be reverted.
const ruleFreshFor = 5 * time.Second

func newOktaClients(factory OktaClientFactory, metrics *okta.Metrics, base *http.Client, callsPerMinute int, cacheMaxAge time.Duration,
	clk clock.PassiveClock, idleTTL time.Duration) *oktaClients {
	if factory == nil {
		factory = okta.NewClient
	}
	return &oktaClients{
		newClient: factory, metrics: metrics, baseHTTP: base, callsPerMinute: callsPerMinute, cacheMaxAge: cacheMaxAge,
		clock: clk, idleTTL: idleTTL, lastSweep: clk.Now(),
		clients: map[string]*cachedClient{}, orgs: map[string]*oktaOrg{},
	}
}

// org returns what the TokenHooks of orgURL share.
func (c *oktaClients) org(orgURL string) *oktaOrg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.orgLocked(orgURL)
}

func (c *oktaClients) orgLocked(orgURL string) *oktaOrg {
	o, ok := c.orgs[orgURL]
	if !ok {
		o = &oktaOrg{
			budget:   newOrgBudget(c.callsPerMinute),
			listings: oktacache.New(oktacache.Options{MaxAge: c.cacheMaxAge, FreshFor: ruleFreshFor, Clock: c.clock}),
		}
		c.orgs[orgURL] = o
	}
	return o
}

// forTokenHook reads the TokenHook's credentials Secret and returns the
// client for its org. A missing or malformed Secret is a specError.
func (r *TokenHookReconciler) oktaClientFor(ctx context.Context, th *v1.TokenHook) (okta.Client, error) {
	name := th.Spec.Okta.CredentialsSecretRef.Name
	key := types.NamespacedName{Namespace: th.Namespace, Name: name}
	rv := r.cachedVersion(ctx, "Secret", key)
	if rv == "" {
		r.credentialsRead.forget(key)
	}
	// The Secret is read only when the metadata cache shows a version other
	// than the one last read; the config is the org's either way.
	cfg, ok := r.credentialsRead.get(key, rv)
	if !ok || cfg.OrgURL != th.Spec.Okta.OrgURL {
		sec := &corev1.Secret{}
		if err := r.APIReader.Get(ctx, key, sec); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &specError{reason: v1.ReasonCredentialsInvalid,
					msg: fmt.Sprintf("spec.okta.credentialsSecretRef: Secret %q not found", name)}
			}
			return nil, fmt.Errorf("get Okta credentials Secret %q: %w", name, err)
		}
		var err error
		if cfg, err = credentialsConfig(th.Spec.Okta.OrgURL, name, sec.Data); err != nil {
			return nil, err
		}
		r.credentialsRead.put(key, sec.ResourceVersion, cfg)
	}
	// The scopes a service app asks for depend on the TokenHook, not only
	// on the Secret it shares with others.
	if cfg.ClientID != "" && len(cfg.Scopes) == 0 {
		cfg.Scopes = operatorScopes(th)
	}
	return r.okta.get(ctx, cfg)
}

// credentialsConfig turns the credentials Secret into a client config.
func credentialsConfig(orgURL, secretName string, data map[string][]byte) (okta.Config, error) {
	cfg := okta.Config{
		OrgURL:       orgURL,
		APIToken:     string(data[credAPIToken]),
		ClientID:     string(data[credClientID]),
		PrivateKey:   data[credPrivateKey],
		PrivateKeyID: string(data[credPrivateKeyID]),
		Scopes:       strings.Fields(string(data[credScopes])),
	}
	hasToken := cfg.APIToken != ""
	hasApp := cfg.ClientID != "" || len(cfg.PrivateKey) > 0
	switch {
	case hasToken && hasApp:
		return cfg, &specError{reason: v1.ReasonCredentialsInvalid, msg: fmt.Sprintf(
			"Okta credentials Secret %q: set either key %q or keys %q and %q, not both", secretName, credAPIToken, credClientID, credPrivateKey)}
	case !hasToken && !hasApp:
		return cfg, &specError{reason: v1.ReasonCredentialsInvalid, msg: fmt.Sprintf(
			"Okta credentials Secret %q: needs key %q, or keys %q and %q", secretName, credAPIToken, credClientID, credPrivateKey)}
	case hasApp && (cfg.ClientID == "" || len(cfg.PrivateKey) == 0):
		return cfg, &specError{reason: v1.ReasonCredentialsInvalid, msg: fmt.Sprintf(
			"Okta credentials Secret %q: a service app needs both keys %q and %q", secretName, credClientID, credPrivateKey)}
	case hasToken && len(cfg.Scopes) > 0:
		return cfg, &specError{reason: v1.ReasonCredentialsInvalid, msg: fmt.Sprintf(
			"Okta credentials Secret %q: key %q is for a service app (keys %q and %q); an API token has its admin's permissions", secretName, credScopes, credClientID, credPrivateKey)}
	}
	return cfg, nil
}

// operatorScopes are the scopes a service app asks for by default: the
// SDK's, and okta.apps.manage to register hook keys in an app's JWKS.
func operatorScopes(th *v1.TokenHook) []string {
	scopes := slices.Clone(okta.DefaultScopes)
	if registersInApp(th) {
		scopes = append(scopes, scopeAppsManage)
	}
	return scopes
}

// Okta's management scopes for apps.
const (
	scopeAppsRead   = "okta.apps.read"
	scopeAppsManage = "okta.apps.manage"
)

func (c *oktaClients) get(ctx context.Context, cfg okta.Config) (okta.Client, error) {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(cfg.OrgURL), []byte(cfg.APIToken), []byte(cfg.ClientID), cfg.PrivateKey, []byte(cfg.PrivateKeyID),
		[]byte(strings.Join(cfg.Scopes, " "))} {
		h.Write(part)
		h.Write([]byte{0})
	}
	key := hex.EncodeToString(h.Sum(nil))

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	c.dropIdle(now)
	if cached, ok := c.clients[key]; ok {
		cached.lastUsed = now
		return cached.client, nil
	}
	org := c.orgLocked(cfg.OrgURL)
	cfg.HTTPClient = c.httpClientFor(cfg.OrgURL, org.budget)
	client, err := c.newClient(ctx, cfg)
	if err != nil {
		// NewClient's errors name the problem, never the secret.
		return nil, &specError{reason: v1.ReasonCredentialsInvalid, msg: fmt.Sprintf("Okta client: %v", err)}
	}
	if c.metrics != nil {
		client = okta.Instrument(client, c.metrics.ForOrg(orgLabel(cfg.OrgURL)))
	}
	// Outermost, so that the metrics count only the calls that reach Okta.
	client = org.listings.Client(client)
	c.clients[key] = &cachedClient{client: client, lastUsed: now}
	return client, nil
}

// dropIdle forgets clients unused for idleTTL, at most once per idleTTL.
// Budgets and listings stay: they hold no secret, and an org's budget must
// survive a credential rotation. Called with c.mu held.
func (c *oktaClients) dropIdle(now time.Time) {
	if c.idleTTL <= 0 || now.Sub(c.lastSweep) < c.idleTTL {
		return
	}
	c.lastSweep = now
	for key, cached := range c.clients {
		if now.Sub(cached.lastUsed) >= c.idleTTL {
			delete(c.clients, key)
		}
	}
}

// httpClientFor wraps the base transport with the org's budget. Called
// with c.mu held.
func (c *oktaClients) httpClientFor(orgURL string, budget *orgBudget) *http.Client {
	var rt http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
	if c.baseHTTP != nil && c.baseHTTP.Transport != nil {
		rt = c.baseHTTP.Transport
	}
	t := &budgeted{next: rt, budget: budget, now: c.clock.Now}
	if c.metrics != nil {
		org := orgLabel(orgURL)
		t.onRateLimited = func() { c.metrics.RateLimited(org) }
	}
	return &http.Client{Transport: t}
}

// orgLabel names an org in metrics: its host, e.g. dev-123.okta.com.
func orgLabel(orgURL string) string {
	if u, err := url.Parse(orgURL); err == nil && u.Host != "" {
		return u.Host
	}
	return orgURL
}

// dropListings forgets every org's listings, as a newly started manager has
// none: for tests of what a new version finds in Okta.
func (c *oktaClients) dropListings() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range c.orgs {
		o.listings = oktacache.New(o.listings.Options())
	}
	clear(c.clients) // they hold the old listings
}

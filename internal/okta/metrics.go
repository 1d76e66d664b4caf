package okta

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a call, as counted by Metrics.
const (
	OutcomeOK        = "ok"
	OutcomeNotFound  = "not_found"
	OutcomeTransient = "transient"
	OutcomeTerminal  = "terminal"
	OutcomeError     = "error" // neither transient nor terminal, e.g. a TLS trust failure
)

// Outcome classifies err the way Metrics counts it.
func Outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrNotFound):
		return OutcomeNotFound
	case IsTerminal(err):
		return OutcomeTerminal
	case IsTransient(err):
		return OutcomeTransient
	}
	return OutcomeError
}

// Metrics counts Okta calls by org, operation and outcome and times them by org and operation.
// One call can be several HTTP requests (429 retries, the PrivateKey token request); the 429
// answers among them are counted apart, by org.
type Metrics struct {
	calls       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	org         string // the org label of what observe counts
}

// NewMetrics creates the metrics and registers them with reg, if not nil. Registering twice with
// the same registry reuses the metrics already there.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenhook_okta_calls_total",
			Help: "Okta management API calls by org, operation and outcome (ok, not_found, transient, terminal, error).",
		}, []string{"org", "operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tokenhook_okta_call_duration_seconds",
			Help:    "Duration of Okta management API calls, retries included, by org and operation.",
			Buckets: prometheus.ExponentialBuckets(0.025, 2, 11), // 25ms to ~25s
		}, []string{"org", "operation"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tokenhook_okta_rate_limited_total",
			Help: "HTTP answers 429 (rate limited) from Okta's management API, by org; the SDK retries them.",
		}, []string{"org"}),
	}
	if reg != nil {
		m.calls = register(reg, m.calls)
		m.duration = register(reg, m.duration)
		m.rateLimited = register(reg, m.rateLimited)
	}
	return m
}

// ForOrg returns metrics that count under the org label org (the org's host name).
// The org's 429 count starts at zero, so that it shows before the first 429.
func (m *Metrics) ForOrg(org string) *Metrics {
	c := *m
	c.org = org
	m.rateLimited.WithLabelValues(org)
	return &c
}

// RateLimited counts one 429 answer from org.
func (m *Metrics) RateLimited(org string) {
	m.rateLimited.WithLabelValues(org).Inc()
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with another collector is a programming error
	}
	return c
}

func (m *Metrics) observe(op string, start time.Time, err error) {
	m.calls.WithLabelValues(m.org, op, Outcome(err)).Inc()
	m.duration.WithLabelValues(m.org, op).Observe(time.Since(start).Seconds())
}

// Instrument returns c with every call counted and timed in m. A nil m returns c unchanged.
func Instrument(c Client, m *Metrics) Client {
	if m == nil {
		return c
	}
	return &instrumented{next: c, m: m}
}

type instrumented struct {
	next Client
	m    *Metrics
}

var _ Client = (*instrumented)(nil)

func (i *instrumented) GetInlineHook(ctx context.Context, id string) (*InlineHook, error) {
	start := time.Now()
	out, err := i.next.GetInlineHook(ctx, id)
	i.m.observe("get_inline_hook", start, err)
	return out, err
}

func (i *instrumented) FindInlineHookByName(ctx context.Context, name string) (*InlineHook, error) {
	start := time.Now()
	out, err := i.next.FindInlineHookByName(ctx, name)
	i.m.observe("find_inline_hook_by_name", start, err)
	return out, err
}

func (i *instrumented) ListInlineHooks(ctx context.Context) ([]*InlineHook, error) {
	start := time.Now()
	hs, err := i.next.ListInlineHooks(ctx)
	i.m.observe("list_inline_hooks", start, err)
	return hs, err
}

func (i *instrumented) ListPolicies(ctx context.Context, authServerID string) ([]*Policy, error) {
	start := time.Now()
	ps, err := i.next.ListPolicies(ctx, authServerID)
	i.m.observe("list_policies", start, err)
	return ps, err
}

func (i *instrumented) ListPolicyRules(ctx context.Context, authServerID, policyID string) ([]*PolicyRule, error) {
	start := time.Now()
	rs, err := i.next.ListPolicyRules(ctx, authServerID, policyID)
	i.m.observe("list_policy_rules", start, err)
	return rs, err
}

func (i *instrumented) CreateInlineHook(ctx context.Context, h InlineHook) (*InlineHook, error) {
	start := time.Now()
	out, err := i.next.CreateInlineHook(ctx, h)
	i.m.observe("create_inline_hook", start, err)
	return out, err
}

func (i *instrumented) UpdateInlineHook(ctx context.Context, h InlineHook) (*InlineHook, error) {
	start := time.Now()
	out, err := i.next.UpdateInlineHook(ctx, h)
	i.m.observe("update_inline_hook", start, err)
	return out, err
}

func (i *instrumented) ActivateInlineHook(ctx context.Context, id string) (*InlineHook, error) {
	start := time.Now()
	out, err := i.next.ActivateInlineHook(ctx, id)
	i.m.observe("activate_inline_hook", start, err)
	return out, err
}

func (i *instrumented) DeactivateInlineHook(ctx context.Context, id string) (*InlineHook, error) {
	start := time.Now()
	out, err := i.next.DeactivateInlineHook(ctx, id)
	i.m.observe("deactivate_inline_hook", start, err)
	return out, err
}

func (i *instrumented) ExecuteInlineHook(ctx context.Context, id string, payload []byte) (json.RawMessage, error) {
	start := time.Now()
	out, err := i.next.ExecuteInlineHook(ctx, id, payload)
	i.m.observe("execute_inline_hook", start, err)
	return out, err
}

func (i *instrumented) DeleteInlineHook(ctx context.Context, id string) error {
	start := time.Now()
	err := i.next.DeleteInlineHook(ctx, id)
	i.m.observe("delete_inline_hook", start, err)
	return err
}

func (i *instrumented) FindPolicy(ctx context.Context, authServerID, nameOrID string) (*Policy, error) {
	start := time.Now()
	out, err := i.next.FindPolicy(ctx, authServerID, nameOrID)
	i.m.observe("find_policy", start, err)
	return out, err
}

func (i *instrumented) FindPolicyRule(ctx context.Context, authServerID, policyID, nameOrID string) (*PolicyRule, error) {
	start := time.Now()
	out, err := i.next.FindPolicyRule(ctx, authServerID, policyID, nameOrID)
	i.m.observe("find_policy_rule", start, err)
	return out, err
}

func (i *instrumented) GetPolicyRule(ctx context.Context, authServerID, policyID, ruleID string) (*PolicyRule, error) {
	start := time.Now()
	out, err := i.next.GetPolicyRule(ctx, authServerID, policyID, ruleID)
	i.m.observe("get_policy_rule", start, err)
	return out, err
}

func (i *instrumented) UpdatePolicyRule(ctx context.Context, authServerID string, r *PolicyRule) (*PolicyRule, error) {
	start := time.Now()
	out, err := i.next.UpdatePolicyRule(ctx, authServerID, r)
	i.m.observe("update_policy_rule", start, err)
	return out, err
}

func (i *instrumented) CreateHookKey(ctx context.Context, name string) (*HookKey, error) {
	start := time.Now()
	out, err := i.next.CreateHookKey(ctx, name)
	i.m.observe("create_hook_key", start, err)
	return out, err
}

func (i *instrumented) GetHookKey(ctx context.Context, id string) (*HookKey, error) {
	start := time.Now()
	out, err := i.next.GetHookKey(ctx, id)
	i.m.observe("get_hook_key", start, err)
	return out, err
}

func (i *instrumented) ListHookKeys(ctx context.Context) ([]*HookKey, error) {
	start := time.Now()
	out, err := i.next.ListHookKeys(ctx)
	i.m.observe("list_hook_keys", start, err)
	return out, err
}

func (i *instrumented) FindHookKeyByName(ctx context.Context, name string) (*HookKey, error) {
	start := time.Now()
	out, err := i.next.FindHookKeyByName(ctx, name)
	i.m.observe("find_hook_key_by_name", start, err)
	return out, err
}

func (i *instrumented) GetPublicHookKey(ctx context.Context, keyID string) (*PublicKey, error) {
	start := time.Now()
	out, err := i.next.GetPublicHookKey(ctx, keyID)
	i.m.observe("get_public_hook_key", start, err)
	return out, err
}

func (i *instrumented) DeleteHookKey(ctx context.Context, id string) error {
	start := time.Now()
	err := i.next.DeleteHookKey(ctx, id)
	i.m.observe("delete_hook_key", start, err)
	return err
}

func (i *instrumented) ListAppJWKs(ctx context.Context, appID string) ([]*AppJWK, error) {
	start := time.Now()
	out, err := i.next.ListAppJWKs(ctx, appID)
	i.m.observe("list_app_jwks", start, err)
	return out, err
}

func (i *instrumented) AddAppJWK(ctx context.Context, appID string, key PublicKey) (*AppJWK, error) {
	start := time.Now()
	out, err := i.next.AddAppJWK(ctx, appID, key)
	i.m.observe("add_app_jwk", start, err)
	return out, err
}

func (i *instrumented) DeactivateAppJWK(ctx context.Context, appID, jwkID string) (*AppJWK, error) {
	start := time.Now()
	out, err := i.next.DeactivateAppJWK(ctx, appID, jwkID)
	i.m.observe("deactivate_app_jwk", start, err)
	return out, err
}

func (i *instrumented) DeleteAppJWK(ctx context.Context, appID, jwkID string) error {
	start := time.Now()
	err := i.next.DeleteAppJWK(ctx, appID, jwkID)
	i.m.observe("delete_app_jwk", start, err)
	return err
}

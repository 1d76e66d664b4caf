package okta_test

// Contract tests: the SDK implementation of the seam against the simulator over HTTPS, one test
// per Okta fact the controller relies on (../shared/okta/SPEC.md §4-6, §9).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

const (
	testToken  = "00sim-api-token-contract-tests"
	testSecret = "Basic dG9rZW5ob29rOnMzY3JldA=="
)

type env struct {
	sim    *oktasim.Sim
	srv    *oktasim.Server
	client okta.Client
}

// newEnv starts a simulator over HTTPS and a client for it. 429s are retried at once.
func newEnv(t *testing.T, opts oktasim.Options, mutate ...func(*okta.Config)) *env {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	sim := oktasim.New(opts)
	srv, err := sim.StartTLS()
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg := okta.Config{
		OrgURL:         srv.URL,
		APIToken:       testToken,
		HTTPClient:     srv.Client,
		RequestTimeout: 10 * time.Second,
		MaxBackoff:     -1,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := okta.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return &env{sim: sim, srv: srv, client: c}
}

func desiredHook(name string) okta.InlineHook {
	return okta.InlineHook{
		Name:       name,
		URL:        "https://hooks.example.com/tokenHook",
		AuthHeader: "Authorization",
		AuthSecret: testSecret,
		Headers:    []okta.Header{{Key: "X-Tokenhook-Owner", Value: "default/patients"}},
	}
}

// createHook creates desiredHook("patients").
func (e *env) createHook(t *testing.T) *okta.InlineHook {
	t.Helper()
	h, err := e.client.CreateInlineHook(context.Background(), desiredHook("patients"))
	if err != nil {
		t.Fatalf("CreateInlineHook: %v", err)
	}
	return h
}

// wantAPIError checks err is an *okta.APIError with this status and code, and returns a copy.
func wantAPIError(t *testing.T, err error, status int, code string) okta.APIError {
	t.Helper()
	var ae *okta.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *okta.APIError", err, err)
	}
	if ae.StatusCode != status || ae.ErrorCode != code {
		t.Fatalf("APIError = %d %s, want %d %s (%v)", ae.StatusCode, ae.ErrorCode, status, code, err)
	}
	return *ae
}

func TestHookLifecycle(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()

	h := e.createHook(t)
	if h.Status != okta.StatusActive {
		t.Errorf("created hook status = %s, want ACTIVE", h.Status)
	}
	if !strings.HasPrefix(h.ID, "cal") || len(h.ID) != 20 {
		t.Errorf("hook ID %q is not Okta-shaped (cal…, 20 characters)", h.ID)
	}
	want := desiredHook("patients")
	want.ID, want.Status, want.AuthSecret = h.ID, okta.StatusActive, ""
	if diff := cmp.Diff(&want, h); diff != "" {
		t.Errorf("created hook (-want +got):\n%s", diff)
	}

	h, err := e.client.DeactivateInlineHook(ctx, h.ID)
	if err != nil || h.Status != okta.StatusInactive {
		t.Fatalf("DeactivateInlineHook = %+v, %v; want INACTIVE", h, err)
	}
	if err := e.client.DeleteInlineHook(ctx, h.ID); err != nil {
		t.Fatalf("DeleteInlineHook: %v", err)
	}
	if _, err := e.client.GetInlineHook(ctx, h.ID); !errors.Is(err, okta.ErrNotFound) {
		t.Fatalf("GetInlineHook after delete: %v, want ErrNotFound", err)
	}
	if err := e.client.DeleteInlineHook(ctx, h.ID); !errors.Is(err, okta.ErrNotFound) {
		t.Fatalf("second DeleteInlineHook: %v, want ErrNotFound", err)
	}
}

func TestUpdateHookKeepsStatusAndSendsSecret(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	h := e.createHook(t)

	want := desiredHook("patients-renamed")
	want.ID = h.ID
	want.URL = "https://hooks.example.com/v2/tokenHook"
	want.AuthSecret = "Basic cm90YXRlZA=="
	got, err := e.client.UpdateInlineHook(context.Background(), want)
	if err != nil {
		t.Fatalf("UpdateInlineHook: %v", err)
	}
	want.Status, want.AuthSecret = okta.StatusActive, ""
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("updated hook (-want +got):\n%s", diff)
	}
	stored, err := e.sim.Hook(h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Channel.AuthScheme == nil || stored.Channel.AuthScheme.Value != "Basic cm90YXRlZA==" {
		t.Errorf("stored secret not rotated: %+v", stored.Channel.AuthScheme)
	}
}

func TestSecretIsWriteOnly(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	h := e.createHook(t)

	stored, err := e.sim.Hook(h.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Channel.AuthScheme == nil || stored.Channel.AuthScheme.Value != testSecret {
		t.Fatalf("simulator did not store the secret: %+v", stored.Channel.AuthScheme)
	}
	got, err := e.client.GetInlineHook(ctx, h.ID)
	if err != nil {
		t.Fatal(err)
	}
	found, err := e.client.FindInlineHookByName(ctx, "patients")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*okta.InlineHook{h, got, found} {
		if x.AuthSecret != "" {
			t.Errorf("AuthSecret = %q, want it never filled from Okta", x.AuthSecret)
		}
		if x.AuthHeader != "Authorization" {
			t.Errorf("AuthHeader = %q, want Authorization", x.AuthHeader)
		}
	}
	// And on the wire: no response body carries it.
	for _, path := range []string{"/api/v1/inlineHooks", "/api/v1/inlineHooks/" + h.ID} {
		body := rawGet(t, e, path)
		if strings.Contains(body, testSecret) {
			t.Errorf("GET %s answered the secret: %s", path, body)
		}
	}
}

func rawGet(t *testing.T, e *env, path string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "SSWS "+testToken)
	resp, err := e.srv.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeleteActiveHookRefused(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	h := e.createHook(t)

	err := e.client.DeleteInlineHook(context.Background(), h.ID)
	if !okta.IsTerminal(err) || okta.IsTransient(err) {
		t.Fatalf("DeleteInlineHook(ACTIVE) = %v; want a terminal error", err)
	}
	wantAPIError(t, err, http.StatusBadRequest, "E0000001")
	if _, err := e.sim.Hook(h.ID); err != nil {
		t.Errorf("hook gone after a refused delete: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	const missing = "calmissing0000000000"
	calls := map[string]func() error{
		"GetInlineHook": func() error { _, err := e.client.GetInlineHook(ctx, missing); return err },
		"ActivateInlineHook": func() error {
			_, err := e.client.ActivateInlineHook(ctx, missing)
			return err
		},
		"UpdateInlineHook": func() error {
			h := desiredHook("x")
			h.ID = missing
			_, err := e.client.UpdateInlineHook(ctx, h)
			return err
		},
		"FindInlineHookByName": func() error { _, err := e.client.FindInlineHookByName(ctx, "nobody"); return err },
		"FindPolicy unknown server": func() error {
			_, err := e.client.FindPolicy(ctx, "ausmissing0000000000", "Default Policy")
			return err
		},
		"FindPolicy": func() error { _, err := e.client.FindPolicy(ctx, "default", "No Such Policy"); return err },
		"GetPolicyRule": func() error {
			p, err := e.client.FindPolicy(ctx, "default", "Default Policy")
			if err != nil {
				return err
			}
			_, err = e.client.GetPolicyRule(ctx, "default", p.ID, "0prmissing0000000000")
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, okta.ErrNotFound) {
				t.Fatalf("error = %v, want ErrNotFound", err)
			}
			if okta.IsTerminal(err) || okta.IsTransient(err) {
				t.Errorf("not found classified as terminal=%v transient=%v", okta.IsTerminal(err), okta.IsTransient(err))
			}
		})
	}
	// The 404 keeps Okta's body.
	_, err := e.client.GetInlineHook(ctx, missing)
	ae := wantAPIError(t, err, http.StatusNotFound, "E0000007")
	if want := "Not found: Resource not found: " + missing + " (InlineHook)"; ae.ErrorSummary != want {
		t.Errorf("ErrorSummary = %q, want %q", ae.ErrorSummary, want)
	}
}

func TestHookNameIsUnique(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	e.createHook(t)
	_, err := e.client.CreateInlineHook(context.Background(), desiredHook("patients"))
	if !okta.IsTerminal(err) {
		t.Fatalf("duplicate create = %v, want terminal", err)
	}
	ae := wantAPIError(t, err, http.StatusBadRequest, "E0000001")
	if len(ae.ErrorCauses) == 0 || !strings.HasPrefix(ae.ErrorCauses[0], "name:") {
		t.Errorf("ErrorCauses = %q, want the name cause", ae.ErrorCauses)
	}
}

func TestFindByNameFiltersType(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	// A foreign hook of another type that an admin made.
	_, err := e.sim.AddHook(oktasim.HookSpec{
		Name: "import users", Type: oktasim.HookTypeImport, Version: "1.0.0",
		Channel: oktasim.Channel{Type: "HTTP", Version: "1.0.0", URI: "https://import.example.com/hook"},
	})
	if err != nil {
		t.Fatal(err)
	}
	own := e.createHook(t)
	e.sim.ResetCalls()

	if _, err := e.client.FindInlineHookByName(ctx, "import users"); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("found a hook of another type: %v", err)
	}
	got, err := e.client.FindInlineHookByName(ctx, "patients")
	if err != nil || got.ID != own.ID {
		t.Fatalf("FindInlineHookByName = %+v, %v; want %s", got, err, own.ID)
	}
	for _, c := range e.sim.Calls() {
		if c.Endpoint == oktasim.EndpointListHooks && c.Query != "type=com.okta.oauth2.tokens.transform" {
			t.Errorf("list query = %q, want the token hook type filter", c.Query)
		}
	}
	if n := e.sim.CountCalls(oktasim.EndpointListHooks); n != 2 {
		t.Errorf("list calls = %d, want 2", n)
	}
}

func TestRateLimitRetriedThenSucceeds(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	h := e.createHook(t)
	if err := e.sim.SetFaults(oktasim.EndpointGetHook, oktasim.Faults{RateLimitRate: 1, MaxFaults: 2}); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCalls()

	got, err := e.client.GetInlineHook(context.Background(), h.ID)
	if err != nil || got.ID != h.ID {
		t.Fatalf("GetInlineHook = %+v, %v; want success after two 429s", got, err)
	}
	calls := e.sim.Calls()
	statuses := make([]int, 0, len(calls))
	for _, c := range calls {
		statuses = append(statuses, c.Status)
	}
	if diff := cmp.Diff([]int{429, 429, 200}, statuses); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	// Each retry names the 429 it retries.
	if calls[1].RetryFor != calls[0].RequestID || calls[2].RetryFor == "" {
		t.Errorf("X-Okta-Retry-For = %q, %q; want the first 429's request ID %q", calls[1].RetryFor, calls[2].RetryFor, calls[0].RequestID)
	}
}

func TestRateLimitRetriesExhausted(t *testing.T) {
	e := newEnv(t, oktasim.Options{}, func(c *okta.Config) { c.MaxRetries = 1 })
	h := e.createHook(t)
	if err := e.sim.SetFaults(oktasim.EndpointGetHook, oktasim.Faults{RateLimitRate: 1}); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetCalls()

	_, err := e.client.GetInlineHook(context.Background(), h.ID)
	if !okta.IsTransient(err) || okta.IsTerminal(err) {
		t.Fatalf("error = %v; want transient", err)
	}
	wantAPIError(t, err, http.StatusTooManyRequests, "")
	if n := e.sim.CountCalls(oktasim.EndpointGetHook); n != 2 {
		t.Errorf("attempts = %d, want MaxRetries+1 = 2", n)
	}
}

func TestRealRateLimitAnswers429WithRetryHeaders(t *testing.T) {
	e := newEnv(t, oktasim.Options{RateLimitPerMinute: 2}, func(c *okta.Config) { c.MaxRetries = -1 })
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := e.client.FindPolicy(ctx, "default", "Default Policy"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := e.client.FindPolicy(ctx, "default", "Default Policy")
	if !okta.IsTransient(err) {
		t.Fatalf("third call in the minute = %v; want transient", err)
	}
	// Without Date and X-Rate-Limit-Reset the SDK would fail with "… header is missing or invalid".
	ae := wantAPIError(t, err, http.StatusTooManyRequests, "")
	if ae.ErrorSummary != "too many requests" {
		t.Errorf("ErrorSummary = %q, want the SDK's exhausted-retries error", ae.ErrorSummary)
	}
}

func TestServerErrorIsTransient(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	if err := e.sim.SetFaults(oktasim.EndpointCreateHook, oktasim.Faults{ServerErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.CreateInlineHook(context.Background(), desiredHook("patients"))
	if !okta.IsTransient(err) || okta.IsTerminal(err) {
		t.Fatalf("error = %v; want transient", err)
	}
	wantAPIError(t, err, http.StatusInternalServerError, "E0000009")
	if n := e.sim.CountCalls(oktasim.EndpointCreateHook); n != 1 {
		t.Errorf("attempts = %d, want 1: the SDK does not retry 5xx", n)
	}
}

func TestValidationErrorIsTerminal(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	h := desiredHook("patients")
	h.URL = "http://hooks.example.com/tokenHook"
	_, err := e.client.CreateInlineHook(context.Background(), h)
	if !okta.IsTerminal(err) || okta.IsTransient(err) {
		t.Fatalf("error = %v; want terminal", err)
	}
	ae := wantAPIError(t, err, http.StatusBadRequest, "E0000001")
	if ae.ErrorSummary != "Api validation failed: channel.config.uri" {
		t.Errorf("ErrorSummary = %q", ae.ErrorSummary)
	}
	if ae.ErrorID == "" {
		t.Error("errorId not kept")
	}
}

func TestRuleReadModifyWriteKeepsOtherFields(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	def, err := e.sim.PolicyByName("default", "Default Policy")
	if err != nil {
		t.Fatal(err)
	}
	// A rule an admin configured with non-default values everywhere, second of two.
	orig, err := e.sim.AddRule("default", def.ID, oktasim.RuleSpec{
		Name: "Patients app", Priority: 2,
		Conditions: oktasim.RuleConditions{
			Users:      oktasim.IncludeExclude{Include: []string{"00u1"}, Exclude: []string{}},
			Groups:     oktasim.IncludeExclude{Include: []string{"00g1", "00g2"}, Exclude: []string{"00g3"}},
			GrantTypes: []string{"authorization_code", "refresh_token"},
			Scopes:     []string{"openid", "profile", "patients.read"},
		},
		Token: oktasim.TokenActions{AccessTokenLifetimeMinutes: 15, RefreshTokenLifetimeMinutes: 1440, RefreshTokenWindowMinutes: 720},
	})
	if err != nil {
		t.Fatal(err)
	}
	orig, err = e.sim.UpdateRule("default", def.ID, orig.ID, func(r *oktasim.Rule) { r.Status = oktasim.StatusInactive })
	if err != nil {
		t.Fatal(err)
	}
	hook := e.createHook(t)

	p, err := e.client.FindPolicy(ctx, "default", "Default Policy")
	if err != nil || p.ID != def.ID {
		t.Fatalf("FindPolicy = %+v, %v", p, err)
	}
	r, err := e.client.FindPolicyRule(ctx, "default", p.ID, "Patients app")
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != orig.ID || r.PolicyID != p.ID || r.Status != oktasim.StatusInactive || r.InlineHookID != "" {
		t.Fatalf("FindPolicyRule = %+v", r)
	}
	r.InlineHookID = hook.ID
	updated, err := e.client.UpdatePolicyRule(ctx, "default", r)
	if err != nil {
		t.Fatalf("UpdatePolicyRule: %v", err)
	}
	if updated.InlineHookID != hook.ID {
		t.Errorf("updated InlineHookID = %q, want %q", updated.InlineHookID, hook.ID)
	}

	got, err := e.sim.Rule("default", def.ID, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := orig
	want.Token.InlineHookID = hook.ID
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(oktasim.Rule{}, "LastUpdated")); diff != "" {
		t.Errorf("rule after the PUT (-want +got):\n%s", diff)
	}

	// Unlink with "", from a fresh read.
	r, err = e.client.GetPolicyRule(ctx, "default", p.ID, orig.ID)
	if err != nil || r.InlineHookID != hook.ID {
		t.Fatalf("GetPolicyRule = %+v, %v", r, err)
	}
	r.InlineHookID = ""
	if _, err := e.client.UpdatePolicyRule(ctx, "default", r); err != nil {
		t.Fatalf("UpdatePolicyRule unlink: %v", err)
	}
	got, _ = e.sim.Rule("default", def.ID, orig.ID)
	if diff := cmp.Diff(orig, got, cmpopts.IgnoreFields(oktasim.Rule{}, "LastUpdated")); diff != "" {
		t.Errorf("rule after unlinking (-want +got):\n%s", diff)
	}
}

func TestUpdatePolicyRuleNeedsARuleReadFromOkta(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	_, err := e.client.UpdatePolicyRule(context.Background(), "default", &okta.PolicyRule{ID: "0pr1", PolicyID: "00p1", InlineHookID: "cal1"})
	if !errors.Is(err, okta.ErrInvalid) || !okta.IsTerminal(err) {
		t.Fatalf("error = %v; want terminal ErrInvalid", err)
	}
	if n := len(e.sim.Calls()); n != 0 {
		t.Errorf("%d calls reached Okta", n)
	}
}

func TestCacheIsOff(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	h := e.createHook(t)
	if _, err := e.client.GetInlineHook(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.DeactivateInlineHook(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	got, err := e.client.GetInlineHook(ctx, h.ID)
	if err != nil || got.Status != okta.StatusInactive {
		t.Fatalf("GetInlineHook after deactivate = %+v, %v; want INACTIVE (a cached GET would say ACTIVE)", got, err)
	}
	if _, err := e.client.ActivateInlineHook(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	got, err = e.client.GetInlineHook(ctx, h.ID)
	if err != nil || got.Status != okta.StatusActive {
		t.Fatalf("GetInlineHook after activate = %+v, %v; want ACTIVE", got, err)
	}
	if n := e.sim.CountCalls(oktasim.EndpointGetHook); n != 3 {
		t.Errorf("GET calls = %d, want 3", n)
	}
}

func TestDroppedConnectionDoesNotHang(t *testing.T) {
	e := newEnv(t, oktasim.Options{}, func(c *okta.Config) { c.RequestTimeout = 500 * time.Millisecond })
	h := e.createHook(t)
	if err := e.sim.SetFaults(oktasim.EndpointGetHook, oktasim.Faults{DropRate: 1}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := e.client.GetInlineHook(context.Background(), h.ID)
		done <- err
	}()
	select {
	case err := <-done:
		if !okta.IsTransient(err) || !errors.Is(err, okta.ErrConnectionDropped) {
			t.Fatalf("error = %v; want transient ErrConnectionDropped", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v with a 500ms request timeout", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("GetInlineHook hangs on dropped connections")
	}
	// The SDK alone would retry the EOF in a tight loop until the deadline. Go's transport
	// retries an idempotent request once when a reused connection drops.
	if n := e.sim.CountCalls(oktasim.EndpointGetHook); n > 2 {
		t.Errorf("attempts = %d, want at most 2: the controller's backoff paces retries", n)
	}
}

func TestLatencyBeyondTimeoutIsTransient(t *testing.T) {
	e := newEnv(t, oktasim.Options{}, func(c *okta.Config) { c.RequestTimeout = 300 * time.Millisecond })
	if err := e.sim.SetFaults("*", oktasim.Faults{LatencyRate: 1, Latency: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.FindPolicy(context.Background(), "default", "Default Policy")
	if !okta.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v; want a transient deadline error", err)
	}
}

// recorder keeps the headers of every response the SDK receives.
type recorder struct {
	next    http.RoundTripper
	headers []http.Header
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.headers = append(r.headers, resp.Header.Clone())
	}
	return resp, err
}

func TestEveryResponseHasRateLimitHeaders(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, oktasim.Options{}, func(c *okta.Config) {
		rec.next = c.HTTPClient.Transport
		c.HTTPClient = &http.Client{Transport: rec}
	})
	ctx := context.Background()
	h := e.createHook(t)
	_, _ = e.client.GetInlineHook(ctx, h.ID)
	_, _ = e.client.GetInlineHook(ctx, "calmissing0000000000")
	_ = e.client.DeleteInlineHook(ctx, h.ID) // refused: ACTIVE
	_, _ = e.client.FindPolicy(ctx, "default", "Default Policy")
	if len(rec.headers) != 5 {
		t.Fatalf("recorded %d responses, want 5", len(rec.headers))
	}
	for i, h := range rec.headers {
		for _, k := range []string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset", "X-Okta-Request-Id", "Date"} {
			if h.Get(k) == "" {
				t.Errorf("response %d has no %s", i, k)
			}
		}
	}
}

func TestSecretsAbsentFromErrors(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	e.createHook(t)

	var errs []error
	_, err := e.client.CreateInlineHook(ctx, desiredHook("patients")) // duplicate
	errs = append(errs, err)
	bad := desiredHook("other")
	bad.URL = "ftp://nowhere"
	_, err = e.client.CreateInlineHook(ctx, bad)
	errs = append(errs, err)

	wrong, err := okta.NewClient(ctx, okta.Config{OrgURL: e.srv.URL, APIToken: "wrong-token-value", HTTPClient: e.srv.Client})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.GetInlineHook(ctx, "cal00000000000000000")
	if !okta.IsTerminal(err) {
		t.Errorf("bad token: %v, want terminal", err)
	}
	wantAPIError(t, err, http.StatusUnauthorized, "E0000011")
	errs = append(errs, err)

	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		for _, secret := range []string{testSecret, testToken, "wrong-token-value"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains a secret", err)
			}
		}
	}
}

func TestConcurrentCalls(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	h := e.createHook(t)
	errs := make(chan error, 16)
	for i := 0; i < cap(errs); i++ {
		go func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = e.client.GetInlineHook(ctx, h.ID)
			case 1:
				_, err = e.client.FindInlineHookByName(ctx, "patients")
			default:
				var p *okta.Policy
				if p, err = e.client.FindPolicy(ctx, "default", "Default Policy"); err == nil {
					_, err = e.client.FindPolicyRule(ctx, "default", p.ID, "Default Policy Rule")
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestExecuteInlineHook: Okta calls the hook through its channel with the payload and relays
// the answer; when the hook does not answer with 200, Okta's 400 is a terminal APIError that
// says why.
func TestExecuteInlineHook(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tokenHook/" || r.Header.Get("Authorization") != testSecret {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte(`{"commands":[{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/echo","value":` + strconv.Quote(string(body)) + `}]}]}`))
	}))
	t.Cleanup(hook.Close)
	e := newEnv(t, oktasim.Options{HookClient: hook.Client()})
	ctx := context.Background()
	want := desiredHook("patients")
	want.URL = hook.URL + "/tokenHook/"
	h, err := e.client.CreateInlineHook(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	const payload = `{"eventType":"com.okta.oauth2.tokens.transform","data":{}}`
	raw, err := e.client.ExecuteInlineHook(ctx, h.ID, []byte(payload))
	if err != nil {
		t.Fatalf("ExecuteInlineHook: %v", err)
	}
	if !strings.Contains(string(raw), strconv.Quote(payload)[1:20]) {
		t.Errorf("relayed answer %s does not echo the payload", raw)
	}

	status.Store(http.StatusNotFound)
	_, err = e.client.ExecuteInlineHook(ctx, h.ID, []byte(payload))
	ae := wantAPIError(t, err, http.StatusBadRequest, oktasim.CodeValidation)
	if !okta.IsTerminal(err) || !strings.Contains(strings.Join(ae.ErrorCauses, " "), "404") {
		t.Errorf("a failed execute: %v (terminal %v), want a terminal error naming the 404", err, okta.IsTerminal(err))
	}
	if _, err := e.client.ExecuteInlineHook(ctx, "calnosuchhook0000000", []byte(payload)); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("execute of a missing hook: %v, want ErrNotFound", err)
	}
}

// One listing serves every TokenHook of an org: it returns every token hook
// (across pages), each policy, and rules fit for a read-modify-write.
func TestListings(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	var want []string
	for i := range 3 {
		h, err := e.client.CreateInlineHook(ctx, desiredHook(fmt.Sprintf("hook-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, h.ID)
	}
	hooks, err := e.client.ListInlineHooks(ctx)
	if err != nil {
		t.Fatalf("ListInlineHooks: %v", err)
	}
	var got []string
	for _, h := range hooks {
		got = append(got, h.ID)
		if h.AuthSecret != "" {
			t.Errorf("hook %s came back with its secret", h.ID)
		}
	}
	if !cmp.Equal(got, want, cmpopts.SortSlices(func(a, b string) bool { return a < b })) {
		t.Errorf("ListInlineHooks IDs = %v, want %v", got, want)
	}
	if h, err := okta.HookNamed(hooks, "hook-1"); err != nil || h.ID != want[1] {
		t.Errorf("HookNamed(hook-1) = %v, %v; want %s", h, err, want[1])
	}
	if _, err := okta.HookNamed(hooks, "nope"); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("HookNamed(nope) = %v, want ErrNotFound", err)
	}

	policies, err := e.client.ListPolicies(ctx, "default")
	if err != nil {
		t.Fatalf("ListPolicies: %v", err)
	}
	def, err := okta.PickPolicy(policies, "default", "Default Policy")
	if err != nil {
		t.Fatalf("PickPolicy: %v", err)
	}
	if _, err := e.client.ListPolicies(ctx, "aus0nosuchserver000"); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("ListPolicies of a missing server = %v, want ErrNotFound", err)
	}
	added, err := e.sim.AddRule("default", def.ID, oktasim.RuleSpec{Name: "listed",
		Conditions: oktasim.RuleConditions{GrantTypes: []string{"authorization_code"}, Scopes: []string{"*"},
			Groups: oktasim.IncludeExclude{Include: []string{"EVERYONE"}}}})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := e.client.ListPolicyRules(ctx, "default", def.ID)
	if err != nil {
		t.Fatalf("ListPolicyRules: %v", err)
	}
	rule, err := okta.PickPolicyRule(rules, def.ID, "listed")
	if err != nil || rule.ID != added.ID {
		t.Fatalf("PickPolicyRule(listed) = %v, %v; want %s", rule, err, added.ID)
	}
	rule.InlineHookID = want[0]
	if _, err := e.client.UpdatePolicyRule(ctx, "default", rule); err != nil {
		t.Fatalf("UpdatePolicyRule of a listed rule: %v", err)
	}
	if got, err := e.client.GetPolicyRule(ctx, "default", def.ID, added.ID); err != nil || got.InlineHookID != want[0] {
		t.Errorf("rule after update = %v, %v; want hook %s", got, err, want[0])
	}
}

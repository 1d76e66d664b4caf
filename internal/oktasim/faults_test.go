package oktasim

import (
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func statuses(t *testing.T, s *Sim, n int, path string) []int {
	t.Helper()
	var out []int
	for i := 0; i < n; i++ {
		out = append(out, call(t, s, http.MethodGet, path, "").Code)
	}
	return out
}

func TestFaultsAreDeterministicBySeed(t *testing.T) {
	run := func(seed int64) []int {
		s := New(Options{Token: token, Seed: seed})
		if err := s.SetFaults(EndpointListHooks, Faults{ServerErrorRate: 0.3, RateLimitRate: 0.3}); err != nil {
			t.Fatal(err)
		}
		return statuses(t, s, 40, "/api/v1/inlineHooks")
	}
	a, b := run(42), run(42)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different faults:\n%s", diff)
	}
	if cmp.Equal(a, run(43)) {
		t.Error("different seeds gave the same faults")
	}
	counts := map[int]int{}
	for _, c := range a {
		counts[c]++
	}
	if counts[200] == 0 || counts[500] == 0 || counts[429] == 0 {
		t.Errorf("statuses %v: want a mix of 200, 500 and 429", counts)
	}
}

func TestFaultPatterns(t *testing.T) {
	cases := map[string]struct {
		set     map[string]Faults
		listed  []int // GET /api/v1/inlineHooks, 3 times
		servers []int // GET /api/v1/authorizationServers, twice
	}{
		"exact endpoint": {
			set:     map[string]Faults{EndpointListHooks: {ServerErrorRate: 1}},
			listed:  []int{500, 500, 500},
			servers: []int{200, 200},
		},
		"path, any method": {
			set:     map[string]Faults{"/api/v1/inlineHooks": {RateLimitRate: 1}},
			listed:  []int{429, 429, 429},
			servers: []int{200, 200},
		},
		"everything": {
			set:     map[string]Faults{"*": {ServerErrorRate: 1}},
			listed:  []int{500, 500, 500},
			servers: []int{500, 500},
		},
		"most specific wins": {
			set:     map[string]Faults{"*": {ServerErrorRate: 1}, EndpointListHooks: {RateLimitRate: 1}},
			listed:  []int{429, 429, 429},
			servers: []int{500, 500},
		},
		"MaxFaults": {
			set:     map[string]Faults{EndpointListHooks: {ServerErrorRate: 1, MaxFaults: 2}},
			listed:  []int{500, 500, 200},
			servers: []int{200, 200},
		},
		"zero Faults removes": {
			set:     map[string]Faults{EndpointListHooks: {}},
			listed:  []int{200, 200, 200},
			servers: []int{200, 200},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := New(Options{Token: token})
			for p, f := range tc.set {
				if err := s.SetFaults(p, f); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.listed, statuses(t, s, 3, "/api/v1/inlineHooks")); diff != "" {
				t.Errorf("list hooks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.servers, statuses(t, s, 2, "/api/v1/authorizationServers")); diff != "" {
				t.Errorf("list servers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInjectedRateLimitCarriesRetryHeaders(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := New(Options{Token: token, Now: func() time.Time { return now }})
	if err := s.SetFaults(EndpointListHooks, Faults{RateLimitRate: 1}); err != nil {
		t.Fatal(err)
	}
	w := call(t, s, http.MethodGet, "/api/v1/inlineHooks", "")
	h := w.Header()
	if w.Code != 429 || h.Get("Date") != "Sun, 01 Mar 2026 12:00:00 GMT" || h.Get("X-Rate-Limit-Reset") != "1772366401" || h.Get("X-Rate-Limit-Remaining") != "0" {
		t.Errorf("429 = %d, headers %v", w.Code, h)
	}
	c := s.Calls()[0]
	if c.Fault != FaultRateLimit || c.Status != 429 || c.Endpoint != EndpointListHooks {
		t.Errorf("call log %+v", c)
	}
}

func TestSetFaultsRejectsMistakes(t *testing.T) {
	s := New(Options{Token: token})
	cases := map[string]struct {
		pattern string
		f       Faults
	}{
		"unknown endpoint": {pattern: "GET /api/v1/users", f: Faults{DropRate: 1}},
		"placeholder typo": {pattern: "GET /api/v1/inlineHooks/{id}", f: Faults{DropRate: 1}},
		"rate above 1":     {pattern: "*", f: Faults{ServerErrorRate: 1.5}},
		"negative latency": {pattern: "*", f: Faults{LatencyRate: 1, Latency: -time.Second}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := s.SetFaults(tc.pattern, tc.f); err == nil {
				t.Error("SetFaults accepted it")
			}
		})
	}
}

func TestDropAndLatencyOverTheWire(t *testing.T) {
	s := New(Options{Token: token})
	srv, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Close() }()
	get := func() (int, error) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/inlineHooks", nil)
		req.Header.Set("Authorization", "SSWS "+token)
		resp, err := srv.Client.Do(req)
		if err != nil {
			return 0, err
		}
		defer func() { _ = resp.Body.Close() }()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}

	if err := s.SetFaults(EndpointListHooks, Faults{DropRate: 1, MaxFaults: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); !errors.Is(err, io.EOF) {
		t.Fatalf("dropped request error = %v, want EOF", err)
	}
	if code, err := get(); err != nil || code != 200 {
		t.Fatalf("after MaxFaults: %d %v", code, err)
	}

	if err := s.SetFaults(EndpointListHooks, Faults{LatencyRate: 1, Latency: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code, err := get(); err != nil || code != 200 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("slow request: %d %v after %v", code, err, time.Since(start))
	}

	calls := s.Calls()
	var got []string
	for _, c := range calls {
		got = append(got, c.Fault)
	}
	if diff := cmp.Diff([]string{FaultDrop, "", FaultLatency}, got); diff != "" {
		t.Errorf("faults in the call log (-want +got):\n%s", diff)
	}
	if calls[0].Status != 0 || calls[1].Status != 200 || calls[0].IsWrite() {
		t.Errorf("calls %+v", calls)
	}
}

func TestCallLog(t *testing.T) {
	s := New(Options{Token: token})
	call(t, s, http.MethodGet, "/api/v1/inlineHooks?type="+HookTypeToken, "")
	call(t, s, http.MethodPost, "/api/v1/inlineHooks", validHook)
	call(t, s, http.MethodGet, "/api/v1/nope", "")
	calls := s.Calls()
	type row struct {
		Method, Path, Query, Endpoint string
		Status                        int
		Write                         bool
	}
	var got []row
	for _, c := range calls {
		if c.Time.IsZero() || c.RequestID == "" {
			t.Errorf("call %+v lacks time or request ID", c)
		}
		got = append(got, row{c.Method, c.Path, c.Query, c.Endpoint, c.Status, c.IsWrite()})
	}
	want := []row{
		{"GET", "/api/v1/inlineHooks", "type=" + HookTypeToken, EndpointListHooks, 200, false},
		{"POST", "/api/v1/inlineHooks", "", EndpointCreateHook, 200, true},
		{"GET", "/api/v1/nope", "", "", 404, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if s.CountCalls(EndpointCreateHook) != 1 {
		t.Error("CountCalls")
	}
	s.ResetCalls()
	if len(s.Calls()) != 0 {
		t.Error("ResetCalls left calls")
	}
}

package oktasim

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Kinds of injected faults, as recorded in Call.Fault.
const (
	FaultDrop        = "drop"         // connection closed without a response
	FaultServerError = "server_error" // 500 E0000009
	FaultRateLimit   = "rate_limit"   // 429 E0000047, with Date and X-Rate-Limit-Reset
	FaultLatency     = "latency"      // answer delayed
)

// Faults to inject into the requests of an endpoint. Each rate is the share of requests, from 0
// to 1, that get the fault; whether a given request does is drawn from a stream seeded by
// Options.Seed and the endpoint pattern, so a run is reproducible.
type Faults struct {
	DropRate        float64
	ServerErrorRate float64
	RateLimitRate   float64
	LatencyRate     float64
	Latency         time.Duration
	// MaxFaults stops injecting after this many requests got a fault; 0 means no cap. With a
	// rate of 1, MaxFaults: 2 fails exactly the next two requests.
	MaxFaults int
}

type faultRule struct {
	Faults
	rng      *rand.Rand
	injected int
}

type faultTable struct {
	mu    sync.Mutex
	seed  int64
	rules map[string]*faultRule
}

func newFaultTable(seed int64) *faultTable {
	return &faultTable{seed: seed, rules: map[string]*faultRule{}}
}

// SetFaults injects f into the requests matching pattern, replacing what was set for it; a zero
// Faults removes it. The pattern is an endpoint ("GET /api/v1/inlineHooks/{inlineHookId}", see
// the Endpoint constants), a path for every method ("/api/v1/inlineHooks/{inlineHookId}"), or
// "*" for every endpoint. The most specific pattern applies. Unknown patterns are an error.
func (s *Sim) SetFaults(pattern string, f Faults) error {
	if !s.knownPattern(pattern) {
		return fmt.Errorf("oktasim: no endpoint matches fault pattern %q", pattern)
	}
	for _, r := range []float64{f.DropRate, f.ServerErrorRate, f.RateLimitRate, f.LatencyRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("oktasim: fault rates must be between 0 and 1, got %v", r)
		}
	}
	if f.Latency < 0 || f.MaxFaults < 0 {
		return fmt.Errorf("oktasim: Latency and MaxFaults must not be negative")
	}
	t := s.faults
	t.mu.Lock()
	defer t.mu.Unlock()
	if f == (Faults{}) {
		delete(t.rules, pattern)
		return nil
	}
	t.rules[pattern] = &faultRule{Faults: f, rng: rand.New(rand.NewPCG(uint64(t.seed), hashString(pattern)))}
	return nil
}

// ClearFaults removes every injected fault.
func (s *Sim) ClearFaults() {
	t := s.faults
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rules = map[string]*faultRule{}
}

func (s *Sim) knownPattern(pattern string) bool {
	if pattern == "*" {
		return true
	}
	for _, rt := range s.routes {
		if rt.name == pattern || rt.path() == pattern {
			return true
		}
	}
	return false
}

type faultDecision struct {
	kind    string // "" or FaultDrop, FaultServerError, FaultRateLimit
	latency time.Duration
}

func (t *faultTable) draw(rt route) faultDecision {
	t.mu.Lock()
	defer t.mu.Unlock()
	fr := t.rules[rt.name]
	if fr == nil {
		fr = t.rules[rt.path()]
	}
	if fr == nil {
		fr = t.rules["*"]
	}
	if fr == nil || (fr.MaxFaults > 0 && fr.injected >= fr.MaxFaults) {
		return faultDecision{}
	}
	// Always four draws in this order, so each request consumes the stream alike.
	slow, drop, serverErr, limited := fr.rng.Float64(), fr.rng.Float64(), fr.rng.Float64(), fr.rng.Float64()
	var d faultDecision
	if slow < fr.LatencyRate {
		d.latency = fr.Latency
	}
	switch {
	case drop < fr.DropRate:
		d.kind = FaultDrop
	case serverErr < fr.ServerErrorRate:
		d.kind = FaultServerError
	case limited < fr.RateLimitRate:
		d.kind = FaultRateLimit
	}
	if d.kind != "" || d.latency > 0 {
		fr.injected++
	}
	return d
}

package oktasim

import (
	"net/http"
	"slices"
	"sync"
	"time"
)

// Call is one request the simulator answered (or dropped).
type Call struct {
	Method   string
	Path     string
	Query    string // raw query; empty for the token endpoint, whose query holds a credential
	Endpoint string // the Endpoint constant matched; "" for unknown paths
	Status   int    // 0 when the connection was dropped
	Fault    string // the injected fault, if any (Fault constants)
	Time     time.Time
	Duration time.Duration
	// RequestID is the X-Okta-Request-Id answered. RetryFor is the X-Okta-Retry-For the SDK
	// sends when retrying a 429: the RequestID of the 429.
	RequestID string
	RetryFor  string
}

// IsWrite reports whether the call could change the org.
func (c Call) IsWrite() bool {
	return c.Method != http.MethodGet && c.Method != http.MethodHead
}

type callLog struct {
	mu    sync.Mutex
	calls []Call
}

func (l *callLog) add(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// Calls returns the calls answered so far, oldest first.
func (s *Sim) Calls() []Call {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	return slices.Clone(s.calls.calls)
}

// ResetCalls empties the call log.
func (s *Sim) ResetCalls() {
	s.calls.mu.Lock()
	defer s.calls.mu.Unlock()
	s.calls.calls = nil
}

// CountCalls returns how many logged calls hit endpoint (an Endpoint constant).
func (s *Sim) CountCalls(endpoint string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Endpoint == endpoint {
			n++
		}
	}
	return n
}

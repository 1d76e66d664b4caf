package oktasim

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// nominalRateLimit is the limit reported when rate limiting is off (the value in recorded Okta
// traffic).
const nominalRateLimit = 1000

// rateLimiter counts /api/v1 requests in one-minute windows that start with the first request
// after the previous window ended, as Okta's do (not aligned to the wall clock).
type rateLimiter struct {
	mu          sync.Mutex
	perMinute   int // 0 = off
	windowStart time.Time
	count       int
}

type rateState struct {
	limit, remaining int
	reset            time.Time
	allowed          bool
}

// take counts a request if counted, and returns the state to report.
func (l *rateLimiter) take(now time.Time, counted bool) rateState {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windowStart.IsZero() || now.Sub(l.windowStart) >= time.Minute {
		l.windowStart, l.count = now, 0
	}
	if counted {
		l.count++
	}
	limit := l.perMinute
	if limit <= 0 {
		limit = nominalRateLimit
	}
	return rateState{
		limit:     limit,
		remaining: max(limit-l.count, 0),
		reset:     l.windowStart.Add(time.Minute),
		allowed:   l.perMinute <= 0 || l.count <= l.perMinute,
	}
}

func (s rateState) setHeaders(h http.Header) {
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(s.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(s.remaining))
	reset := s.reset.Unix()
	if s.reset.Nanosecond() > 0 {
		reset++ // epoch seconds, rounded up so a client never retries early
	}
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset, 10))
}

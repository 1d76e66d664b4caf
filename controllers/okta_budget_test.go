package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func TestBudgetBooksInTurnAndNeverBlocks(t *testing.T) {
	b := newOrgBudget(60) // one call a second, a burst of 3
	// The burst goes at once, with its calls paid.
	if wait, paid := b.admit("a", 3, t0); wait != 0 || paid != 3 {
		t.Fatalf("first booking: wait %s, paid %d; want 0 and 3", wait, paid)
	}
	// Then each booking waits its turn, in the order they were made.
	var waits []time.Duration
	for _, uid := range []types.UID{"b", "c", "d"} {
		wait, paid := b.admit(uid, 2, t0)
		if paid != 0 {
			t.Fatalf("%s: paid %d before its turn", uid, paid)
		}
		waits = append(waits, wait)
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 6 * time.Second}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("waits = %v, want %v (2 calls a booking, 1 call a second)", waits, want)
			break
		}
	}
	// Back early: the rest of its wait, and its turn stays booked.
	if wait, _ := b.admit("c", 2, t0.Add(time.Second)); wait != 3*time.Second {
		t.Errorf("c back early waits %s, want 3s", wait)
	}
	// Back on time: the calls it booked are paid.
	if wait, paid := b.admit("c", 5, t0.Add(4*time.Second)); wait != 0 || paid != 2 {
		t.Errorf("c on time: wait %s, paid %d; want 0 and the 2 it booked", wait, paid)
	}
	// Nothing to call: never waits.
	if wait, _ := b.admit("e", 0, t0); wait != 0 {
		t.Errorf("a sync with no calls waits %s", wait)
	}
	// Another org has a budget of its own.
	if wait, paid := newOrgBudget(60).admit("x", 2, t0); wait != 0 || paid != 2 {
		t.Errorf("another org: wait %s, paid %d; want 0 and 2", wait, paid)
	}
}

func TestBudgetHeedsOktasHeaders(t *testing.T) {
	header := func(limit, remaining int, reset time.Time) http.Header {
		h := http.Header{}
		h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
		h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
		h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
		// Okta's clock is 100 s ahead of ours: the reset counts from its Date.
		h.Set("Date", reset.Add(-20*time.Second).Format(http.TimeFormat))
		return h
	}
	oktaReset := t0.Add(120 * time.Second)
	cases := []struct {
		name      string
		remaining int
		wantWait  time.Duration
	}{
		{name: "plenty left", remaining: 300, wantWait: 0},
		{name: "at the margin left to other clients", remaining: 60, wantWait: 20 * time.Second},
		{name: "empty", remaining: 0, wantWait: 20 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newOrgBudget(600)
			b.observe(header(600, tc.remaining, oktaReset), t0)
			wait, _ := b.admit("a", 1, t0)
			if wait != tc.wantWait {
				t.Errorf("wait %s, want %s", wait, tc.wantWait)
			}
			if tc.wantWait > 0 {
				if wait, paid := b.admit("a", 1, t0.Add(tc.wantWait)); wait != 0 || paid != 1 {
					t.Errorf("after the reset: wait %s, paid %d; want 0 and 1", wait, paid)
				}
			}
		})
	}
	// Headers that cannot be trusted change nothing.
	b := newOrgBudget(600)
	b.observe(http.Header{"X-Rate-Limit-Remaining": {"0"}}, t0)
	far := header(600, 0, t0.Add(time.Hour))
	far.Set("Date", t0.Format(http.TimeFormat)) // a reset an hour away is no Okta window
	b.observe(far, t0)
	if wait, _ := b.admit("a", 1, t0); wait != 0 {
		t.Errorf("untrusted headers paused the budget for %s", wait)
	}
}

func TestBudgetedTransportTakesBookedCallsFirst(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/limited" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	b := newOrgBudget(60)
	limited := 0
	now := t0
	client := &http.Client{Transport: &budgeted{next: http.DefaultTransport, budget: b, now: func() time.Time { return now },
		onRateLimited: func() { limited++ }}}
	get := func(ctx context.Context, path string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	_, paid := b.admit("a", 2, now)
	ctx := withPaidCalls(context.Background(), paid)
	get(ctx, "/")
	get(ctx, "/limited")
	if limited != 1 {
		t.Errorf("429s counted: %d, want 1", limited)
	}
	// The burst (3) is booked 2, so one more is free now; the booked calls
	// did not take from it twice.
	if wait, _ := b.admit("b", 1, now); wait != 0 {
		t.Errorf("booked calls were charged again: the next booking waits %s", wait)
	}
	// Calls beyond the booking go at once (no worker waits) and push later
	// bookings back.
	start := time.Now()
	for range 3 {
		get(ctx, "/")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("calls beyond the booking waited: %s", took)
	}
	if wait, _ := b.admit("c", 1, now); wait != 4*time.Second {
		t.Errorf("after 3 unbooked calls the next booking waits %s, want 4s", wait)
	}
}

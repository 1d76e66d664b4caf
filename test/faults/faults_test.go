package faults

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

func long() bool { return os.Getenv("FAULTS_LONG") != "" }

// TestOktaFaultsWhileCreatingEditingDeleting: 429s, 5xx, latency and
// dropped connections on every Okta endpoint while TokenHooks come and go.
// Everything converges with no duplicate and no orphaned hook.
func TestOktaFaultsWhileCreatingEditingDeleting(t *testing.T) {
	n := 6
	if long() {
		n = 24
	}
	f := newFixture(t, n)
	startManager(t, "m1", managerOptions{})
	sim.ResetCalls()
	if err := sim.SetFaults("*", oktasim.Faults{
		ServerErrorRate: 0.15, RateLimitRate: 0.15, DropRate: 0.1,
		LatencyRate: 0.2, Latency: 200 * time.Millisecond,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.ClearFaults)

	idx := make([]int, n)
	for i := range n {
		idx[i] = i
		f.create(i)
	}
	// Edit a third, delete a third, while the creates are still under way.
	var edited, deleted, kept []int
	for i := range n {
		switch i % 3 {
		case 0:
			edited = append(edited, i)
			f.update(i, func(th *v1.TokenHook) {
				th.Spec.HookServer.ExternalURL = fmt.Sprintf("https://edited.example.com/%s/%d", f.ns, i)
			})
		case 1:
			deleted = append(deleted, i)
			f.delete(i)
		default:
			kept = append(kept, i)
		}
	}
	url := func(i int) string {
		if i%3 == 0 {
			return fmt.Sprintf("https://edited.example.com/%s/%d", f.ns, i)
		}
		return fmt.Sprintf("https://hooks.example.com/%s/%d", f.ns, i)
	}
	// Okta converges while the faults go on.
	eventually(t, waitFor, func() error {
		return errors.Join(
			all(edited, func(i int) error { return f.inOkta(i, url(i)) }),
			all(kept, func(i int) error { return f.inOkta(i, url(i)) }),
			all(deleted, f.goneFromOkta),
		)
	})
	report := map[string]int{}
	for _, c := range sim.Calls() {
		if c.Fault != "" {
			report[c.Fault]++
		}
	}
	total := 0
	for _, v := range report {
		total += v
	}
	t.Logf("survived %d injected Okta faults %v over %d calls", total, report, len(sim.Calls()))
	for _, kind := range []string{oktasim.FaultServerError, oktasim.FaultRateLimit, oktasim.FaultDrop, oktasim.FaultLatency} {
		if report[kind] == 0 {
			t.Errorf("no %s faults were injected", kind)
		}
	}
	// With Okta healthy again, status catches up too.
	sim.ClearFaults()
	eventually(t, waitFor, func() error {
		return errors.Join(all(edited, f.ready), all(kept, f.ready))
	})
	// And deleting the rest leaves Okta clean.
	for _, i := range append(edited, kept...) {
		f.delete(i)
	}
	eventually(t, waitFor, func() error { return all(idx, f.goneFromOkta) })
}

// TestManagerKilledAtBadMoments kills the manager right after an Okta
// write, before it could record anything, and starts a new one.
func TestManagerKilledAtBadMoments(t *testing.T) {
	cases := map[string]struct {
		op       string
		deleting bool // crash during deletion rather than creation
	}{
		"between hook create and status write": {op: "CreateInlineHook"},
		"right after linking the rule":         {op: "UpdatePolicyRule"},
		"mid-deletion, after unlinking":        {op: "UpdatePolicyRule", deleting: true},
		"mid-deletion, after deactivating":     {op: "DeactivateInlineHook", deleting: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, 1)
			url := fmt.Sprintf("https://hooks.example.com/%s/0", f.ns)
			crash := &crashPoint{op: tc.op}
			first := managerOptions{crash: crash}
			if tc.deleting {
				first = managerOptions{}
			}
			m1 := startManager(t, "m1", first)
			f.create(0)
			if tc.deleting {
				eventually(t, waitFor, func() error { return errors.Join(f.inOkta(0, url), f.ready(0)) })
				m1.stop()
				m1 = startManager(t, "m1b", managerOptions{crash: crash})
				f.delete(0)
			}
			eventually(t, waitFor, func() error {
				if !crash.fired.Load() {
					return fmt.Errorf("crash point %s not reached", tc.op)
				}
				return nil
			})
			m1.stop()

			startManager(t, "m2", managerOptions{})
			if tc.deleting {
				eventually(t, waitFor, func() error { return f.goneFromOkta(0) })
				return
			}
			eventually(t, waitFor, func() error { return errors.Join(f.inOkta(0, url), f.ready(0)) })
			f.delete(0)
			eventually(t, waitFor, func() error { return f.goneFromOkta(0) })
		})
	}
}

// TestLeaderElection: two managers, only the leader calls Okta; when it
// dies, the other takes over and converges.
func TestLeaderElection(t *testing.T) {
	f := newFixture(t, 2)
	a := startManager(t, "a", managerOptions{leaderElection: true})
	select {
	case <-a.leader:
	case <-time.After(30 * time.Second):
		t.Fatal("manager a was not elected")
	}
	b := startManager(t, "b", managerOptions{leaderElection: true})

	f.create(0)
	url0 := fmt.Sprintf("https://hooks.example.com/%s/0", f.ns)
	eventually(t, waitFor, func() error { return errors.Join(f.inOkta(0, url0), f.ready(0)) })
	if a.calls.writes.Load() == 0 {
		t.Errorf("the leader made no Okta writes")
	}
	if n := b.calls.reads.Load() + b.calls.writes.Load(); n != 0 {
		t.Errorf("the follower made %d Okta calls", n)
	}

	a.stop() // releases the lease
	select {
	case <-b.leader:
	case <-time.After(30 * time.Second):
		t.Fatal("manager b did not take over")
	}
	aCalls := a.calls.reads.Load() + a.calls.writes.Load()
	f.create(1)
	f.update(0, func(th *v1.TokenHook) { th.Spec.HookServer.ExternalURL = "https://moved.example.com/hook" })
	url1 := fmt.Sprintf("https://hooks.example.com/%s/1", f.ns)
	eventually(t, waitFor, func() error {
		return errors.Join(f.inOkta(0, "https://moved.example.com/hook"), f.inOkta(1, url1), f.ready(0), f.ready(1))
	})
	if got := a.calls.reads.Load() + a.calls.writes.Load(); got != aCalls {
		t.Errorf("the stopped leader made %d more Okta calls", got-aCalls)
	}
	if b.calls.writes.Load() == 0 {
		t.Errorf("the new leader made no Okta writes")
	}
}

// TestOktaUnreachable: with Okta's front door shut, status says so and
// nothing is lost; when it opens, everything converges.
func TestOktaUnreachable(t *testing.T) {
	f := newFixture(t, 2)
	startManager(t, "m", managerOptions{})
	url := func(i int) string { return fmt.Sprintf("https://hooks.example.com/%s/%d", f.ns, i) }
	f.create(0)
	eventually(t, waitFor, func() error { return errors.Join(f.inOkta(0, url(0)), f.ready(0)) })

	door.Shut()
	reopened := false
	t.Cleanup(func() {
		if !reopened {
			door.Open(t)
		}
	})
	f.create(1)
	f.update(0, func(th *v1.TokenHook) { th.Spec.HookServer.ExternalURL = "https://moved.example.com/hook" })
	for _, i := range []int{0, 1} {
		eventually(t, waitFor, func() error {
			th, err := f.get(i)
			if err != nil {
				return err
			}
			c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionInlineHookRegistered)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1.ReasonOktaUnavailable || c.ObservedGeneration != th.Generation {
				return fmt.Errorf("%s: InlineHookRegistered = %+v, want False/OktaUnavailable", th.Name, c)
			}
			return nil
		})
	}
	time.Sleep(2 * time.Second) // a few failed retries, with backoff
	door.Open(t)
	reopened = true
	eventually(t, waitFor, func() error {
		return errors.Join(f.inOkta(0, "https://moved.example.com/hook"), f.inOkta(1, url(1)), f.ready(0), f.ready(1))
	})
}

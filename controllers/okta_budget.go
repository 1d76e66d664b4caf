package controllers

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
)

// orgBudget is the operator's share of one Okta org's API rate limit.
//
// A reconcile books its Okta calls before it makes any (admit): when the
// budget has room it goes ahead, otherwise the calls are reserved for later
// and the TokenHook is requeued for that time, so no worker ever sits waiting
// on one org's budget while work for other orgs is queued. Reservations are
// served in the order they were made, so the TokenHooks of one org take
// turns. A call beyond what was booked is never held either: it is taken from
// the budget's future, and later bookings wait that much longer.
//
// Okta's own rate-limit headers are heeded as well: when an answer shows the
// org's bucket nearly empty (other clients of the org use it too), bookings
// wait for the bucket's reset, before Okta answers 429.
type orgBudget struct {
	limiter *rate.Limiter // nil: no budget of our own (Okta's headers still count)

	mu          sync.Mutex
	pending     map[types.UID]booking // booked for later, not yet used
	pausedUntil time.Time
}

type booking struct {
	at    time.Time
	calls int
}

// bucketMargin is the share of Okta's bucket left to the org's other
// clients: below it, bookings wait for the reset.
const bucketMargin = 10 // percent

func newOrgBudget(callsPerMinute int) *orgBudget {
	b := &orgBudget{pending: map[types.UID]booking{}}
	if callsPerMinute > 0 {
		b.limiter = rate.NewLimiter(rate.Limit(float64(callsPerMinute)/60), max(1, callsPerMinute/20))
	}
	return b
}

// admit books n calls for uid and says how long to wait before making them:
// 0 means now, with paid calls booked. A TokenHook that comes back after its
// wait finds its calls booked. n larger than the burst books the burst; the
// rest is taken as it is used.
func (b *orgBudget) admit(uid types.UID, n int, now time.Time) (wait time.Duration, paid int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	paused := max(0, b.pausedUntil.Sub(now))
	if bk, ok := b.pending[uid]; ok {
		if wait := max(bk.at.Sub(now), paused); wait > 0 {
			return wait, 0
		}
		delete(b.pending, uid)
		return 0, bk.calls
	}
	switch {
	case n <= 0:
		return 0, 0 // nothing to call: answered from the listings
	case b.limiter == nil:
		return paused, 0
	}
	n = min(n, b.limiter.Burst())
	r := b.limiter.ReserveN(now, n)
	if wait := max(r.DelayFrom(now), paused); wait > 0 {
		b.pending[uid] = booking{at: now.Add(wait), calls: n}
		return wait, 0
	}
	return 0, n
}

// forget drops uid's booking (its TokenHook is gone).
func (b *orgBudget) forget(uid types.UID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pending, uid)
}

// spend takes one call that was not booked from the budget, without waiting.
func (b *orgBudget) spend(now time.Time) {
	if b.limiter != nil {
		b.limiter.ReserveN(now, 1)
	}
}

// observe reads Okta's X-Rate-Limit-* headers off an answer. Reset is in
// epoch seconds of Okta's clock, so it is taken relative to the answer's Date.
func (b *orgBudget) observe(h http.Header, now time.Time) {
	limit, err1 := strconv.Atoi(h.Get("X-Rate-Limit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || limit <= 0 {
		return
	}
	if remaining*100 > limit*bucketMargin {
		return
	}
	okNow := now
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		okNow = date
	}
	wait := time.Unix(reset, 0).Sub(okNow)
	if wait <= 0 || wait > 2*time.Minute {
		return // a clock off by more than Okta's windows is not to be trusted
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if until := now.Add(wait); until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
}

// paidCalls is the number of calls a reconcile booked, carried in its context.
type paidCalls struct{ left atomic.Int32 }

type paidCallsKey struct{}

func withPaidCalls(ctx context.Context, n int) context.Context {
	p := &paidCalls{}
	p.left.Store(int32(n))
	return context.WithValue(ctx, paidCallsKey{}, p)
}

// takePaid uses one booked call, if any are left.
func takePaid(ctx context.Context) bool {
	p, _ := ctx.Value(paidCallsKey{}).(*paidCalls)
	return p != nil && p.left.Add(-1) >= 0
}

// budgeted counts each request against the org's budget (booked or not)
// and feeds Okta's rate-limit headers back to it. It never waits.
type budgeted struct {
	next          http.RoundTripper
	budget        *orgBudget
	now           func() time.Time
	onRateLimited func()
}

func (t *budgeted) RoundTrip(req *http.Request) (*http.Response, error) {
	if !takePaid(req.Context()) {
		t.budget.spend(t.now())
	}
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.budget.observe(resp.Header, t.now())
		if resp.StatusCode == http.StatusTooManyRequests && t.onRateLimited != nil {
			t.onRateLimited()
		}
	}
	return resp, err
}

// bookOktaCalls books n Okta calls in the org's budget. With room now, it
// returns ctx carrying the calls paid for; otherwise how long to wait.
func (r *TokenHookReconciler) bookOktaCalls(ctx context.Context, th *v1.TokenHook, n int) (context.Context, time.Duration) {
	wait, paid := r.okta.org(th.Spec.Okta.OrgURL).budget.admit(th.UID, n, r.Clock.Now())
	if wait > 0 {
		logf.FromContext(ctx).V(1).Info("Okta sync waits for the org's API budget", "calls", n, "wait", wait.Round(time.Millisecond))
		return ctx, wait
	}
	return withPaidCalls(ctx, paid), 0
}

// oktaCallsAhead estimates the calls of th's Okta sync: the listings it
// finds stale, then a create, the route probe and the rule link, as far as
// status says they are still to do. A call beyond the estimate is not held:
// the budget takes it from later bookings.
func (r *TokenHookReconciler) oktaCallsAhead(th *v1.TokenHook) int {
	n := r.okta.org(th.Spec.Okta.OrgURL).listings.Stale(th.Spec.Okta.AuthorizationServerID, th.Status.PolicyID)
	if th.Status.InlineHookID == "" {
		n++
	}
	if usesPrivateKeyJWT(th) || th.Status.HookAuth != nil {
		n += hookKeyCallsAhead(th, r.okta.org(th.Spec.Okta.OrgURL).listings.StaleHookKeys(), r.Clock.Now(), r.RotationGrace)
	}
	if isTrue(th, v1.ConditionHookServerAvailable) {
		for _, t := range []string{v1.ConditionHookReachable, v1.ConditionPolicyRuleLinked} {
			if c := meta.FindStatusCondition(th.Status.Conditions, t); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != th.Generation {
				n++
			}
		}
	}
	return n
}

// oktaCleanupCalls estimates the calls of th's clean-up in Okta: the stale
// listings, the rule's unlink, the deactivation and the delete.
func (r *TokenHookReconciler) oktaCleanupCalls(th *v1.TokenHook) int {
	n := r.okta.org(th.Spec.Okta.OrgURL).listings.Stale(th.Spec.Okta.AuthorizationServerID, th.Status.PolicyID) + 3
	if st := th.Status.HookAuth; st != nil || usesPrivateKeyJWT(th) {
		// The key listing, and per key its delete (and the JWKS entry's two).
		n++
		if st != nil {
			n += 3 * (len(st.RetiredHookKeys) + 2)
		}
	}
	return n
}

// hookKeyCallsAhead estimates the hook key calls of a sync: the key listing
// when stale, a key to make (find, create) and register (list, add), and the
// retired keys due for deletion (JWKS entry deactivate and delete, key).
func hookKeyCallsAhead(th *v1.TokenHook, staleKeys int, now time.Time, grace time.Duration) int {
	st := th.Status.HookAuth
	n := staleKeys
	if st == nil || st.HookKey == nil {
		return n + 4
	}
	if due, _, _ := rotationDue(th, now); due && st.NextHookKey == nil {
		n += 4
	}
	for _, k := range []*v1.HookKeyStatus{st.HookKey, st.NextHookKey} {
		if k != nil && !k.Registered {
			n += 2
		}
	}
	due, _ := retirementsDue(st, now, grace)
	return n + 3*len(due)
}

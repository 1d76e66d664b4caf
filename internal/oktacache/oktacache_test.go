package oktacache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/okta/fake"
)

// org is a tiny Okta org behind a fake client that counts its calls.
type org struct {
	mu    sync.Mutex
	hooks map[string]*okta.InlineHook
	rules map[string]*okta.PolicyRule
	calls map[string]int
	fail  map[string]error // by method, once
}

func newOrg() *org {
	return &org{
		hooks: map[string]*okta.InlineHook{"cal1": {ID: "cal1", Name: "a", Status: okta.StatusActive}},
		rules: map[string]*okta.PolicyRule{"0pr1": {ID: "0pr1", PolicyID: "00p1", Name: "r1"}},
		calls: map[string]int{},
		fail:  map[string]error{},
	}
}

func (o *org) call(method string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls[method]++
	if err := o.fail[method]; err != nil {
		delete(o.fail, method)
		return err
	}
	return nil
}

func (o *org) count(method string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[method]
}

func (o *org) client() *fake.Client {
	return &fake.Client{
		ListInlineHooksFn: func(context.Context) ([]*okta.InlineHook, error) {
			if err := o.call("ListInlineHooks"); err != nil {
				return nil, err
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			var out []*okta.InlineHook
			for _, h := range o.hooks {
				cp := *h
				out = append(out, &cp)
			}
			return out, nil
		},
		GetInlineHookFn: func(_ context.Context, id string) (*okta.InlineHook, error) {
			if err := o.call("GetInlineHook"); err != nil {
				return nil, err
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			h, ok := o.hooks[id]
			if !ok {
				return nil, okta.ErrNotFound
			}
			cp := *h
			return &cp, nil
		},
		GetPolicyRuleFn: func(_ context.Context, _, _, id string) (*okta.PolicyRule, error) {
			if err := o.call("GetPolicyRule"); err != nil {
				return nil, err
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			r, ok := o.rules[id]
			if !ok {
				return nil, okta.ErrNotFound
			}
			cp := *r
			return &cp, nil
		},
		CreateInlineHookFn: func(_ context.Context, h okta.InlineHook) (*okta.InlineHook, error) {
			if err := o.call("CreateInlineHook"); err != nil {
				return nil, err
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			h.ID, h.Status = "cal2", okta.StatusActive
			o.hooks[h.ID] = &h
			cp := h
			return &cp, nil
		},
		DeactivateInlineHookFn: func(_ context.Context, id string) (*okta.InlineHook, error) {
			if err := o.call("DeactivateInlineHook"); err != nil {
				return nil, err
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			h, ok := o.hooks[id]
			if !ok {
				return nil, okta.ErrNotFound
			}
			h.Status = okta.StatusInactive
			cp := *h
			return &cp, nil
		},
		DeleteInlineHookFn: func(_ context.Context, id string) error {
			if err := o.call("DeleteInlineHook"); err != nil {
				return err
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			delete(o.hooks, id)
			return nil
		},
		ListPoliciesFn: func(context.Context, string) ([]*okta.Policy, error) {
			if err := o.call("ListPolicies"); err != nil {
				return nil, err
			}
			return []*okta.Policy{{ID: "00p1", Name: "Default Policy"}}, nil
		},
		ListPolicyRulesFn: func(context.Context, string, string) ([]*okta.PolicyRule, error) {
			if err := o.call("ListPolicyRules"); err != nil {
				return nil, err
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			var out []*okta.PolicyRule
			for _, r := range o.rules {
				cp := *r
				out = append(out, &cp)
			}
			return out, nil
		},
		UpdatePolicyRuleFn: func(_ context.Context, _ string, r *okta.PolicyRule) (*okta.PolicyRule, error) {
			if err := o.call("UpdatePolicyRule"); err != nil {
				return nil, err
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			cp := *r
			o.rules[r.ID] = &cp
			out := cp
			return &out, nil
		},
	}
}

func setup(t *testing.T) (*org, okta.Client, *clocktesting.FakePassiveClock, *Org) {
	t.Helper()
	o := newOrg()
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	cache := New(Options{MaxAge: time.Minute, FreshFor: 5 * time.Second, Clock: clk})
	return o, cache.Client(o.client()), clk, cache
}

func TestOneListingServesEveryRead(t *testing.T) {
	o, c, clk, cache := setup(t)
	ctx := context.Background()
	if n := cache.Stale("default", ""); n != 3 {
		t.Errorf("Stale before any read = %d, want 3 (hooks, policies, rules)", n)
	}
	for range 50 {
		if _, err := c.GetInlineHook(ctx, "cal1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.FindInlineHookByName(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.FindPolicy(ctx, "default", "Default Policy"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetPolicyRule(ctx, "default", "00p1", "0pr1"); err != nil {
			t.Fatal(err)
		}
	}
	if o.count("GetInlineHook")+o.count("GetPolicyRule") != 0 {
		t.Errorf("reads by ID went to Okta: %v", o.calls)
	}
	// By ID, a hook the listing lacks is asked of Okta: someone else may
	// have made it since.
	if _, err := c.GetInlineHook(ctx, "cal9"); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("GetInlineHook of an absent hook = %v, want ErrNotFound", err)
	}
	o.hooks["cal3"] = &okta.InlineHook{ID: "cal3", Name: "made by someone else"}
	if h, err := c.GetInlineHook(ctx, "cal3"); err != nil || h.Name != "made by someone else" {
		t.Errorf("GetInlineHook of a hook made after the listing = %v, %v", h, err)
	}
	if _, err := c.FindInlineHookByName(ctx, "made by someone else"); err != nil {
		t.Errorf("the hook read by ID did not join the listing: %v", err)
	}
	if got := o.count("GetInlineHook"); got != 2 {
		t.Errorf("GetInlineHook reached Okta %d times, want 2 (the two misses)", got)
	}
	for _, m := range []string{"ListInlineHooks", "ListPolicies", "ListPolicyRules"} {
		if got := o.count(m); got != 1 {
			t.Errorf("%s called %d times for 50 readers, want 1", m, got)
		}
	}
	if n := cache.Stale("default", "00p1"); n != 0 {
		t.Errorf("Stale with fresh listings = %d, want 0", n)
	}
	clk.SetTime(clk.Now().Add(time.Minute))
	if n := cache.Stale("default", "00p1"); n != 2 {
		t.Errorf("Stale past MaxAge = %d, want 2", n)
	}
	if _, err := c.GetInlineHook(ctx, "cal1"); err != nil {
		t.Fatal(err)
	}
	if got := o.count("ListInlineHooks"); got != 2 {
		t.Errorf("past MaxAge: %d listings, want 2", got)
	}
}

func TestWritesGoIntoTheListing(t *testing.T) {
	o, c, _, _ := setup(t)
	ctx := context.Background()
	if _, err := c.ListInlineHooks(ctx); err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateInlineHook(ctx, okta.InlineHook{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.FindInlineHookByName(ctx, "b"); err != nil || got.ID != created.ID {
		t.Fatalf("created hook not read back: %v, %v", got, err)
	}
	if _, err := c.DeactivateInlineHook(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetInlineHook(ctx, created.ID); got.Status != okta.StatusInactive {
		t.Errorf("status after deactivate = %s, want INACTIVE", got.Status)
	}
	if err := c.DeleteInlineHook(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindInlineHookByName(ctx, "b"); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("deleted hook still served: %v", err)
	}
	if got := o.count("ListInlineHooks"); got != 1 {
		t.Errorf("%d listings, want 1: writes keep the listing current", got)
	}
}

func TestNameMissIsConfirmedByAFreshListing(t *testing.T) {
	o, c, clk, _ := setup(t)
	ctx := context.Background()
	if _, err := c.ListInlineHooks(ctx); err != nil {
		t.Fatal(err)
	}
	// Made after the listing, e.g. by a crashed earlier create.
	o.hooks["cal7"] = &okta.InlineHook{ID: "cal7", Name: "late"}
	if _, err := c.FindInlineHookByName(ctx, "late"); !errors.Is(err, okta.ErrNotFound) {
		t.Fatalf("within FreshFor the listing answers: %v", err)
	}
	clk.SetTime(clk.Now().Add(10 * time.Second))
	if h, err := c.FindInlineHookByName(ctx, "late"); err != nil || h.ID != "cal7" {
		t.Fatalf("a miss in an older listing was not confirmed with Okta: %v, %v", h, err)
	}
	if got := o.count("ListInlineHooks"); got != 2 {
		t.Errorf("%d listings, want 2", got)
	}
}

func TestFailedWriteDropsTheListing(t *testing.T) {
	o, c, _, _ := setup(t)
	ctx := context.Background()
	if _, err := c.ListInlineHooks(ctx); err != nil {
		t.Fatal(err)
	}
	o.fail["CreateInlineHook"] = errors.New("connection reset")
	if _, err := c.CreateInlineHook(ctx, okta.InlineHook{Name: "b"}); err == nil {
		t.Fatal("create did not fail")
	}
	if _, err := c.FindInlineHookByName(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := o.count("ListInlineHooks"); got != 2 {
		t.Errorf("%d listings, want 2: a failed write may have happened, so Okta is asked again", got)
	}
}

func TestReturnedObjectsAreCopies(t *testing.T) {
	_, c, _, _ := setup(t)
	ctx := context.Background()
	r, err := c.GetPolicyRule(ctx, "default", "00p1", "0pr1")
	if err != nil {
		t.Fatal(err)
	}
	r.InlineHookID = "cal1"
	if again, _ := c.GetPolicyRule(ctx, "default", "00p1", "0pr1"); again.InlineHookID != "" {
		t.Errorf("a caller's edit reached the listing: %q", again.InlineHookID)
	}
}

func TestRuleWriteUsesAFreshRead(t *testing.T) {
	cases := []struct {
		name         string
		age          time.Duration
		changeInOkta string // the rule's hook, set in Okta after the caller's read
		wantLists    int
		wantErr      error
	}{
		{name: "listing fresh: written as read", age: time.Second, wantLists: 1},
		{name: "listing old, rule unchanged: read again, then written", age: 30 * time.Second, wantLists: 2},
		{name: "listing old, rule's hook changed: not written", age: 30 * time.Second, changeInOkta: "calOther", wantLists: 2, wantErr: ErrRuleChanged},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, c, clk, _ := setup(t)
			ctx := context.Background()
			r, err := c.GetPolicyRule(ctx, "default", "00p1", "0pr1")
			if err != nil {
				t.Fatal(err)
			}
			if tc.changeInOkta != "" {
				o.rules["0pr1"].InlineHookID = tc.changeInOkta
			}
			o.rules["0pr1"].Name = "renamed by an admin"
			clk.SetTime(clk.Now().Add(tc.age))
			r.InlineHookID = "cal1"
			_, err = c.UpdatePolicyRule(ctx, "default", r)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("UpdatePolicyRule = %v, want %v", err, tc.wantErr)
			}
			if got := o.count("ListPolicyRules"); got != tc.wantLists {
				t.Errorf("%d rule listings, want %d", got, tc.wantLists)
			}
			if tc.wantErr != nil {
				if o.count("UpdatePolicyRule") != 0 {
					t.Error("a changed rule was written")
				}
				return
			}
			if o.rules["0pr1"].InlineHookID != "cal1" {
				t.Errorf("rule calls %q, want cal1", o.rules["0pr1"].InlineHookID)
			}
			if tc.age > 5*time.Second && o.rules["0pr1"].Name != "renamed by an admin" {
				t.Errorf("the write reverted the admin's edit: name %q", o.rules["0pr1"].Name)
			}
			if got, _ := c.GetPolicyRule(ctx, "default", "00p1", "0pr1"); got.InlineHookID != "cal1" {
				t.Errorf("listing after the write: %q, want cal1", got.InlineHookID)
			}
		})
	}
}

func TestConcurrentReadersShareOneFetch(t *testing.T) {
	o, _, _, cache := setup(t)
	var inFlight, most atomic.Int32
	f := o.client()
	list := f.ListInlineHooksFn
	f.ListInlineHooksFn = func(ctx context.Context) ([]*okta.InlineHook, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		if n > most.Load() {
			most.Store(n)
		}
		time.Sleep(20 * time.Millisecond)
		return list(ctx)
	}
	c := cache.Client(f)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := c.GetInlineHook(context.Background(), "cal1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := o.count("ListInlineHooks"); got != 1 || most.Load() != 1 {
		t.Errorf("20 concurrent readers: %d listings (%d at once), want 1", got, most.Load())
	}
}

func TestFailedListingIsNotKept(t *testing.T) {
	o, c, _, _ := setup(t)
	ctx := context.Background()
	o.fail["ListInlineHooks"] = errors.New("503")
	if _, err := c.GetInlineHook(ctx, "cal1"); err == nil {
		t.Fatal("want the listing's error")
	}
	if _, err := c.GetInlineHook(ctx, "cal1"); err != nil {
		t.Fatalf("second read: %v", err)
	}
	if got := o.count("ListInlineHooks"); got != 2 {
		t.Errorf("%d listings, want 2", got)
	}
}

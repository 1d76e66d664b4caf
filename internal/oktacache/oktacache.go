// Package oktacache serves the operator's reads of one Okta org from
// listings that every TokenHook of the org shares: a drift check of 50
// TokenHooks costs one listing of the org's token hooks and one of each
// policy's rules, not a hundred reads, and a create needs no read of its own.
// Hook keys (private_key_jwt channels) are listed the same way (hook_keys.go).
//
// Writes go to Okta and then into the listings, so the operator reads its own
// writes. An object asked for by ID that a listing lacks is read from Okta:
// it may have been made since by someone else. A listing is refetched once it is older than MaxAge; a failed write
// drops it, so the next read asks Okta again. A rule is written by a
// read-modify-write of the whole rule, so before that write the rule's listing
// is refetched unless it is younger than FreshFor: the PUT then carries
// every other field as Okta has it now, and a rule whose hook changed since
// the caller read it is not written at all.
package oktacache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/tokenhook/tokenhook/internal/okta"
)

// ErrRuleChanged means a rule's hook changed in Okta between the caller's
// read and its write; nothing was written. A retry reads the rule again.
var ErrRuleChanged = errors.New("the policy rule changed in Okta since it was read; nothing was written")

// Options bound the age of what an Org serves.
type Options struct {
	// MaxAge is how old a listing may be when it answers a read.
	MaxAge time.Duration
	// FreshFor is how old a rule listing may be when a rule is written.
	FreshFor time.Duration
	// Clock, for tests; nil is the real clock.
	Clock clock.PassiveClock
}

// Org holds the listings of one Okta org. It is safe for concurrent use.
type Org struct {
	opts Options

	hooks    listing[okta.InlineHook]
	hookKeys listing[okta.HookKey] // without their public keys

	mu         sync.Mutex
	policies   map[string]*listing[okta.Policy]        // by authorization server
	rules      map[[2]string]*listing[okta.PolicyRule] // by authorization server and policy
	publicKeys map[string]*okta.PublicKey              // hook keys' public keys, by keyId
}

// New returns an Org with empty listings.
func New(opts Options) *Org {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Org{opts: opts, policies: map[string]*listing[okta.Policy]{}, rules: map[[2]string]*listing[okta.PolicyRule]{},
		publicKeys: map[string]*okta.PublicKey{}}
}

// Options are the options o was made with.
func (o *Org) Options() Options { return o.opts }

// Client returns c with its reads served from o. Every client of one org
// should share o.
func (o *Org) Client(c okta.Client) okta.Client { return &cachedClient{org: o, next: c} }

// Stale counts the listings that a sync of a TokenHook with this
// authorization server and policy would have to fetch (0 to 3), so the
// caller can budget its calls. policyID "" counts the policy listing instead
// of the rule listing.
func (o *Org) Stale(authServerID, policyID string) int {
	now := o.opts.Clock.Now()
	n := 0
	if !o.hooks.fresh(now, o.opts.MaxAge) {
		n++
	}
	if policyID == "" {
		// The policy is not resolved yet: its rules are to be listed too.
		if !o.policyListing(authServerID).fresh(now, o.opts.MaxAge) {
			n++
		}
		return n + 1
	}
	if !o.ruleListing(authServerID, policyID).fresh(now, o.opts.MaxAge) {
		n++
	}
	return n
}

func (o *Org) policyListing(asID string) *listing[okta.Policy] {
	o.mu.Lock()
	defer o.mu.Unlock()
	l, ok := o.policies[asID]
	if !ok {
		l = &listing[okta.Policy]{}
		o.policies[asID] = l
	}
	return l
}

func (o *Org) ruleListing(asID, policyID string) *listing[okta.PolicyRule] {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := [2]string{asID, policyID}
	l, ok := o.rules[key]
	if !ok {
		l = &listing[okta.PolicyRule]{}
		o.rules[key] = l
	}
	return l
}

// listing is one list answer of Okta and when it was fetched. fetchMu makes
// concurrent readers of a stale listing wait for one fetch instead of each
// making their own.
type listing[T any] struct {
	fetchMu sync.Mutex

	mu    sync.Mutex
	items []*T
	at    time.Time
	valid bool
}

func (l *listing[T]) fresh(now time.Time, maxAge time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.valid && now.Sub(l.at) < maxAge
}

// get returns the items, fetching them first if the listing is older than
// maxAge. The items are shared: callers copy before handing them out.
func (l *listing[T]) get(now func() time.Time, maxAge time.Duration, fetch func() ([]*T, error)) ([]*T, error) {
	if items, ok := l.snapshot(now(), maxAge); ok {
		return items, nil
	}
	l.fetchMu.Lock()
	defer l.fetchMu.Unlock()
	if items, ok := l.snapshot(now(), maxAge); ok {
		return items, nil // fetched by another caller meanwhile
	}
	started := now()
	items, err := fetch()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Stamped with the start of the fetch: a write that lands during the
	// fetch may be missing from it, and its own update follows.
	l.items, l.at, l.valid = items, started, true
	return items, nil
}

func (l *listing[T]) snapshot(now time.Time, maxAge time.Duration) ([]*T, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.valid || now.Sub(l.at) >= maxAge {
		return nil, false
	}
	return l.items, true
}

// update applies f to the items of a valid listing; an invalid one is left
// for the next read to fetch.
func (l *listing[T]) update(f func(items []*T) []*T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.valid {
		l.items = f(slices.Clone(l.items))
	}
}

func (l *listing[T]) invalidate() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.valid = false
}

// put replaces the item with the same key, or appends it.
func put[T any](item *T, key func(*T) string) func([]*T) []*T {
	return func(items []*T) []*T {
		for i, it := range items {
			if key(it) == key(item) {
				items[i] = item
				return items
			}
		}
		return append(items, item)
	}
}

func remove[T any](id string, key func(*T) string) func([]*T) []*T {
	return func(items []*T) []*T {
		return slices.DeleteFunc(items, func(it *T) bool { return key(it) == id })
	}
}

func hookID(h *okta.InlineHook) string { return h.ID }
func ruleID(r *okta.PolicyRule) string { return r.ID }

func copyHook(h *okta.InlineHook) *okta.InlineHook {
	c := *h
	c.Headers = slices.Clone(h.Headers)
	if h.OAuth != nil {
		o := *h.OAuth
		c.OAuth = &o
	}
	return &c
}

func copyRule(r *okta.PolicyRule) *okta.PolicyRule {
	c := *r // the raw rule it carries is never modified in place
	return &c
}

func copyAll[T any](items []*T, cp func(*T) *T) []*T {
	out := make([]*T, len(items))
	for i, it := range items {
		out[i] = cp(it)
	}
	return out
}

// afterWrite keeps a listing in step with a write: on success the answer
// goes in, a NotFound takes the object out, any other failure drops the
// listing (the write may or may not have happened).
func afterWrite[T any](l *listing[T], id string, got *T, err error, key func(*T) string, cp func(*T) *T) {
	switch {
	case err == nil && got != nil:
		l.update(put(cp(got), key)) // a copy: the caller may change what it got
	case errors.Is(err, okta.ErrNotFound):
		l.update(remove(id, key))
	case err != nil:
		l.invalidate()
	}
}

// cachedClient serves reads from the org's listings and passes writes on.
type cachedClient struct {
	org  *Org
	next okta.Client
}

var _ okta.Client = (*cachedClient)(nil)

func (c *cachedClient) now() time.Time { return c.org.opts.Clock.Now() }

func (c *cachedClient) hooks(ctx context.Context) ([]*okta.InlineHook, error) {
	return c.hooksNewerThan(ctx, c.org.opts.MaxAge)
}

func (c *cachedClient) hooksNewerThan(ctx context.Context, maxAge time.Duration) ([]*okta.InlineHook, error) {
	return c.org.hooks.get(c.now, maxAge, func() ([]*okta.InlineHook, error) { return c.next.ListInlineHooks(ctx) })
}

func (c *cachedClient) ListInlineHooks(ctx context.Context) ([]*okta.InlineHook, error) {
	hs, err := c.hooks(ctx)
	if err != nil {
		return nil, err
	}
	return copyAll(hs, copyHook), nil
}

func (c *cachedClient) GetInlineHook(ctx context.Context, id string) (*okta.InlineHook, error) {
	hs, err := c.hooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("get inline hook %s: %w", id, err)
	}
	for _, h := range hs {
		if h.ID == id {
			return copyHook(h), nil
		}
	}
	// Not in the listing: deleted since, or made by someone else since.
	// Only Okta can tell which.
	h, err := c.next.GetInlineHook(ctx, id)
	afterWrite(&c.org.hooks, id, h, err, hookID, copyHook)
	return h, err
}

// FindInlineHookByName answers "none" only from a listing younger than
// FreshFor: the caller creates the hook next, and a hook made since an older
// listing (by a crashed earlier attempt, or an earlier version) would be
// duplicated instead of adopted.
func (c *cachedClient) FindInlineHookByName(ctx context.Context, name string) (*okta.InlineHook, error) {
	for _, maxAge := range []time.Duration{c.org.opts.MaxAge, c.org.opts.FreshFor} {
		hs, err := c.hooksNewerThan(ctx, maxAge)
		if err != nil {
			return nil, err
		}
		if h, err := okta.HookNamed(hs, name); err == nil {
			return copyHook(h), nil
		}
	}
	return nil, fmt.Errorf("find inline hook named %q: %w", name, okta.ErrNotFound)
}

func (c *cachedClient) CreateInlineHook(ctx context.Context, h okta.InlineHook) (*okta.InlineHook, error) {
	keys := c.keysMayChange("", &h)
	created, err := c.next.CreateInlineHook(ctx, h)
	afterWrite(&c.org.hooks, "", created, err, hookID, copyHook)
	c.afterHookWrite(keys)
	return created, err
}

func (c *cachedClient) UpdateInlineHook(ctx context.Context, h okta.InlineHook) (*okta.InlineHook, error) {
	keys := c.keysMayChange(h.ID, &h)
	updated, err := c.next.UpdateInlineHook(ctx, h)
	afterWrite(&c.org.hooks, h.ID, updated, err, hookID, copyHook)
	c.afterHookWrite(keys)
	return updated, err
}

func (c *cachedClient) ActivateInlineHook(ctx context.Context, id string) (*okta.InlineHook, error) {
	h, err := c.next.ActivateInlineHook(ctx, id)
	afterWrite(&c.org.hooks, id, h, err, hookID, copyHook)
	return h, err
}

func (c *cachedClient) DeactivateInlineHook(ctx context.Context, id string) (*okta.InlineHook, error) {
	h, err := c.next.DeactivateInlineHook(ctx, id)
	afterWrite(&c.org.hooks, id, h, err, hookID, copyHook)
	return h, err
}

func (c *cachedClient) DeleteInlineHook(ctx context.Context, id string) error {
	defer c.afterHookWrite(c.keysMayChange(id, nil))
	err := c.next.DeleteInlineHook(ctx, id)
	if err == nil || errors.Is(err, okta.ErrNotFound) {
		c.org.hooks.update(remove(id, hookID))
	} else {
		c.org.hooks.invalidate()
	}
	return err
}

func (c *cachedClient) ExecuteInlineHook(ctx context.Context, id string, payload []byte) (json.RawMessage, error) {
	return c.next.ExecuteInlineHook(ctx, id, payload)
}

func (c *cachedClient) policies(ctx context.Context, asID string) ([]*okta.Policy, error) {
	return c.org.policyListing(asID).get(c.now, c.org.opts.MaxAge, func() ([]*okta.Policy, error) { return c.next.ListPolicies(ctx, asID) })
}

func (c *cachedClient) ListPolicies(ctx context.Context, asID string) ([]*okta.Policy, error) {
	ps, err := c.policies(ctx, asID)
	if err != nil {
		return nil, err
	}
	return copyAll(ps, func(p *okta.Policy) *okta.Policy { cp := *p; return &cp }), nil
}

func (c *cachedClient) FindPolicy(ctx context.Context, asID, nameOrID string) (*okta.Policy, error) {
	ps, err := c.policies(ctx, asID)
	if err != nil {
		return nil, fmt.Errorf("find policy %q: %w", nameOrID, err)
	}
	p, err := okta.PickPolicy(ps, asID, nameOrID)
	if err != nil {
		return nil, err
	}
	cp := *p
	return &cp, nil
}

func (c *cachedClient) rules(ctx context.Context, asID, policyID string, maxAge time.Duration) ([]*okta.PolicyRule, error) {
	return c.org.ruleListing(asID, policyID).get(c.now, maxAge, func() ([]*okta.PolicyRule, error) {
		return c.next.ListPolicyRules(ctx, asID, policyID)
	})
}

func (c *cachedClient) ListPolicyRules(ctx context.Context, asID, policyID string) ([]*okta.PolicyRule, error) {
	rs, err := c.rules(ctx, asID, policyID, c.org.opts.MaxAge)
	if err != nil {
		return nil, err
	}
	return copyAll(rs, copyRule), nil
}

func (c *cachedClient) FindPolicyRule(ctx context.Context, asID, policyID, nameOrID string) (*okta.PolicyRule, error) {
	rs, err := c.rules(ctx, asID, policyID, c.org.opts.MaxAge)
	if err != nil {
		return nil, fmt.Errorf("find policy rule %q: %w", nameOrID, err)
	}
	r, err := okta.PickPolicyRule(rs, policyID, nameOrID)
	if err != nil {
		return nil, err
	}
	return copyRule(r), nil
}

func (c *cachedClient) GetPolicyRule(ctx context.Context, asID, policyID, id string) (*okta.PolicyRule, error) {
	rs, err := c.rules(ctx, asID, policyID, c.org.opts.MaxAge)
	if err != nil {
		return nil, fmt.Errorf("get policy rule %s: %w", id, err)
	}
	for _, r := range rs {
		if r.ID == id {
			return copyRule(r), nil
		}
	}
	r, err := c.next.GetPolicyRule(ctx, asID, policyID, id) // not in the listing: ask Okta
	afterWrite(c.org.ruleListing(asID, policyID), id, r, err, ruleID, copyRule)
	return r, err
}

// UpdatePolicyRule writes r's hook onto the rule as Okta has it now (a
// listing younger than FreshFor), unless the rule's hook changed since the
// listing r came from: then ErrRuleChanged, and nothing is written.
func (c *cachedClient) UpdatePolicyRule(ctx context.Context, asID string, r *okta.PolicyRule) (*okta.PolicyRule, error) {
	if r == nil {
		return c.next.UpdatePolicyRule(ctx, asID, r)
	}
	l := c.org.ruleListing(asID, r.PolicyID)
	// The hook the rule called in the listing r most likely came from.
	seen, seenKnown := "", false
	if items, ok := l.snapshot(c.now(), c.org.opts.MaxAge); ok {
		if it := find(items, r.ID); it != nil {
			seen, seenKnown = it.InlineHookID, true
		}
	}
	base := r
	if rs, ok := l.snapshot(c.now(), c.org.opts.FreshFor); !ok || !has(rs, r.ID) {
		rs, err := c.rules(ctx, asID, r.PolicyID, c.org.opts.FreshFor)
		if err != nil {
			return nil, fmt.Errorf("update policy rule %s: read it first: %w", r.ID, err)
		}
		fresh := find(rs, r.ID)
		if fresh == nil {
			return nil, fmt.Errorf("update policy rule %s: %w", r.ID, okta.ErrNotFound)
		}
		changed := fresh.InlineHookID != seen
		if !seenKnown {
			// Unknown what the caller saw: write only over no hook or the same one.
			changed = fresh.InlineHookID != "" && fresh.InlineHookID != r.InlineHookID
		}
		if changed {
			return nil, fmt.Errorf("update policy rule %s: %w", r.ID, ErrRuleChanged)
		}
		base = copyRule(fresh)
		base.InlineHookID = r.InlineHookID
	}
	updated, err := c.next.UpdatePolicyRule(ctx, asID, base)
	afterWrite(l, r.ID, updated, err, ruleID, copyRule)
	return updated, err
}

func has(rs []*okta.PolicyRule, id string) bool { return find(rs, id) != nil }

func find(rs []*okta.PolicyRule, id string) *okta.PolicyRule {
	for _, r := range rs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

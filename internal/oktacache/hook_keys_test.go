package oktacache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/okta/fake"
)

// keyOrg is a tiny Okta org of hook keys (and one OAUTH hook) behind a fake
// client that counts its calls.
type keyOrg struct {
	mu    sync.Mutex
	keys  map[string]*okta.HookKey // by ID, with public keys
	hook  okta.InlineHook
	calls map[string]int
	next  int
}

func (o *keyOrg) count(method string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls[method]
}

// used computes isUsed as Okta would.
func (o *keyOrg) usedLocked(id string) bool {
	return o.hook.OAuth != nil && o.hook.OAuth.HookKeyID == id
}

func (o *keyOrg) client() *fake.Client {
	listed := func(k *okta.HookKey) *okta.HookKey {
		cp := *k
		cp.PublicKey, cp.IsUsed = nil, o.usedLocked(k.ID)
		return &cp
	}
	return &fake.Client{
		ListHookKeysFn: func(context.Context) ([]*okta.HookKey, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.calls["ListHookKeys"]++
			var out []*okta.HookKey
			for _, k := range o.keys {
				out = append(out, listed(k))
			}
			return out, nil
		},
		GetHookKeyFn: func(_ context.Context, id string) (*okta.HookKey, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.calls["GetHookKey"]++
			k, ok := o.keys[id]
			if !ok {
				return nil, okta.ErrNotFound
			}
			return listed(k), nil
		},
		CreateHookKeyFn: func(_ context.Context, name string) (*okta.HookKey, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.calls["CreateHookKey"]++
			o.next++
			kid := fmt.Sprintf("kid-%d", o.next)
			k := &okta.HookKey{ID: fmt.Sprintf("HKY%d", o.next), KeyID: kid, Name: name,
				PublicKey: &okta.PublicKey{KeyID: kid, Type: "RSA", Algorithm: "RSA", N: "n-" + kid, E: "AQAB"}}
			o.keys[k.ID] = k
			cp := *k
			return &cp, nil
		},
		GetPublicHookKeyFn: func(_ context.Context, keyID string) (*okta.PublicKey, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.calls["GetPublicHookKey"]++
			for _, k := range o.keys {
				if k.KeyID == keyID {
					cp := *k.PublicKey
					return &cp, nil
				}
			}
			return nil, okta.ErrNotFound
		},
		DeleteHookKeyFn: func(_ context.Context, id string) error {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.calls["DeleteHookKey"]++
			if _, ok := o.keys[id]; !ok {
				return okta.ErrNotFound
			}
			if o.usedLocked(id) {
				return &okta.APIError{StatusCode: 400, ErrorCode: "E0000001", ErrorSummary: "Api validation failed: hookKey"}
			}
			delete(o.keys, id)
			return nil
		},
		ListInlineHooksFn: func(context.Context) ([]*okta.InlineHook, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.calls["ListInlineHooks"]++
			h := o.hook
			h.OAuth = new(okta.OAuthChannel)
			*h.OAuth = *o.hook.OAuth
			h.OAuth.ClientSecret = "" // write-only
			return []*okta.InlineHook{&h}, nil
		},
		UpdateInlineHookFn: func(_ context.Context, h okta.InlineHook) (*okta.InlineHook, error) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.calls["UpdateInlineHook"]++
			o.hook = h
			cp := h
			if h.OAuth != nil {
				oc := *h.OAuth
				oc.ClientSecret = ""
				cp.OAuth = &oc
			}
			return &cp, nil
		},
	}
}

func keySetup(t *testing.T) (*keyOrg, okta.Client, *clocktesting.FakePassiveClock, *Org) {
	t.Helper()
	o := &keyOrg{keys: map[string]*okta.HookKey{}, calls: map[string]int{},
		hook: okta.InlineHook{ID: "cal1", Name: "h", OAuth: &okta.OAuthChannel{AuthType: okta.AuthTypeClientSecretPost, ClientID: "0oa1", ClientSecret: "s"}}}
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	cache := New(Options{MaxAge: time.Minute, FreshFor: 5 * time.Second, Clock: clk})
	return o, cache.Client(o.client()), clk, cache
}

func TestHookKeysShareOneListing(t *testing.T) {
	o, c, clk, cache := keySetup(t)
	ctx := context.Background()
	if n := cache.StaleHookKeys(); n != 1 {
		t.Errorf("StaleHookKeys before any read = %d, want 1", n)
	}
	created, err := c.CreateHookKey(ctx, "tokenhook")
	if err != nil || created.PublicKey == nil {
		t.Fatalf("CreateHookKey = %+v, %v; want the key with its public key", created, err)
	}
	other, _ := c.CreateHookKey(ctx, "other")
	for range 50 {
		k, err := c.GetHookKey(ctx, created.ID)
		if err != nil || k.Name != "tokenhook" || k.PublicKey != nil {
			t.Fatalf("GetHookKey = %+v, %v; want it without its public key", k, err)
		}
		if k, err := c.FindHookKeyByName(ctx, "other"); err != nil || k.ID != other.ID {
			t.Fatalf("FindHookKeyByName = %+v, %v", k, err)
		}
		if pk, err := c.GetPublicHookKey(ctx, created.KeyID); err != nil || pk.N != created.PublicKey.N {
			t.Fatalf("GetPublicHookKey = %+v, %v", pk, err)
		}
	}
	if ks, err := c.ListHookKeys(ctx); err != nil || len(ks) != 2 {
		t.Errorf("ListHookKeys = %v, %v", ks, err)
	}
	if n := o.count("ListHookKeys") + o.count("GetHookKey") + o.count("GetPublicHookKey"); n != 1 {
		t.Errorf("reads went to Okta %d times (%v), want one listing", n, o.calls)
	}
	if n := cache.StaleHookKeys(); n != 0 {
		t.Errorf("StaleHookKeys after a listing = %d, want 0", n)
	}

	// A key made by someone else: by ID it is asked of Okta; by name a miss
	// is confirmed by a listing younger than FreshFor.
	o.mu.Lock()
	o.keys["HKY9"] = &okta.HookKey{ID: "HKY9", KeyID: "kid-9", Name: "elsewhere", PublicKey: &okta.PublicKey{KeyID: "kid-9", N: "n9"}}
	o.mu.Unlock()
	if k, err := c.GetHookKey(ctx, "HKY9"); err != nil || k.Name != "elsewhere" {
		t.Errorf("GetHookKey of a key made after the listing = %v, %v", k, err)
	}
	clk.SetTime(clk.Now().Add(10 * time.Second))
	if _, err := c.FindHookKeyByName(ctx, "nobody"); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("FindHookKeyByName(nobody) = %v, want ErrNotFound", err)
	}
	if n := o.count("ListHookKeys"); n != 2 {
		t.Errorf("%d listings, want a second to confirm the miss", n)
	}
	// A public key not seen yet is read once, then kept.
	for range 3 {
		if pk, err := c.GetPublicHookKey(ctx, "kid-9"); err != nil || pk.N != "n9" {
			t.Fatalf("GetPublicHookKey(kid-9) = %v, %v", pk, err)
		}
	}
	if n := o.count("GetPublicHookKey"); n != 1 {
		t.Errorf("GetPublicHookKey went to Okta %d times, want 1", n)
	}

	// A deleted key leaves the listing, and its public key is no longer served.
	if err := c.DeleteHookKey(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetHookKey(ctx, created.ID); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("GetHookKey after delete = %v, want ErrNotFound", err)
	}
	if _, err := c.GetPublicHookKey(ctx, created.KeyID); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("GetPublicHookKey after delete = %v, want ErrNotFound", err)
	}
	clk.SetTime(clk.Now().Add(time.Minute))
	if n := cache.StaleHookKeys(); n != 1 {
		t.Errorf("StaleHookKeys past MaxAge = %d, want 1", n)
	}
}

// TestHookWritesKeepIsUsed: a hook write naming a key (or that named one)
// makes the next key read ask Okta, whose isUsed changed.
func TestHookWritesKeepIsUsed(t *testing.T) {
	o, c, _, _ := keySetup(t)
	ctx := context.Background()
	k, err := c.CreateHookKey(ctx, "tokenhook")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListInlineHooks(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetHookKey(ctx, k.ID); got.IsUsed {
		t.Fatal("a new key is used")
	}
	jwt := okta.InlineHook{ID: "cal1", Name: "h", OAuth: &okta.OAuthChannel{AuthType: okta.AuthTypePrivateKeyJWT, ClientID: "0oa1", HookKeyID: k.ID}}
	if _, err := c.UpdateInlineHook(ctx, jwt); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetHookKey(ctx, k.ID); !got.IsUsed {
		t.Error("isUsed stale after a hook started naming the key")
	}
	if err := c.DeleteHookKey(ctx, k.ID); err == nil {
		t.Error("deleted a key in use")
	}
	if _, err := c.ListInlineHooks(ctx); err != nil { // the listing now has the jwt channel
		t.Fatal(err)
	}
	secretAgain := okta.InlineHook{ID: "cal1", Name: "h", OAuth: &okta.OAuthChannel{AuthType: okta.AuthTypeClientSecretPost, ClientID: "0oa1", ClientSecret: "s"}}
	if _, err := c.UpdateInlineHook(ctx, secretAgain); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.GetHookKey(ctx, k.ID); got.IsUsed {
		t.Error("isUsed stale after the hook stopped naming the key")
	}
	if err := c.DeleteHookKey(ctx, k.ID); err != nil {
		t.Errorf("delete a free key: %v", err)
	}
	if n := o.count("ListHookKeys"); n != 3 {
		t.Errorf("%d key listings, want 3 (first read, after each hook write)", n)
	}
}

// TestHookCopiesAreDeep: a caller that edits the OAuth channel of a hook it
// got (e.g. to set the client secret before an update) leaves the listing as
// Okta had it.
func TestHookCopiesAreDeep(t *testing.T) {
	_, c, _, _ := keySetup(t)
	ctx := context.Background()
	h, err := c.GetInlineHook(ctx, "cal1")
	if err != nil || h.OAuth == nil {
		t.Fatalf("GetInlineHook = %+v, %v", h, err)
	}
	h.OAuth.ClientSecret, h.OAuth.Scope = "edited", "edited"
	again, _ := c.GetInlineHook(ctx, "cal1")
	if again.OAuth.ClientSecret != "" || again.OAuth.Scope != "" {
		t.Errorf("the listing took the caller's edit: %+v", again.OAuth)
	}
}

package oktacache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenhook/tokenhook/internal/okta"
)

// Hook keys fit the org's listings like hooks: an org has at most 50 and
// every TokenHook with a private_key_jwt channel reads its own, so one listing
// serves them all. A key's public key never changes (Okta generates the pair
// once; only the name can be replaced), so it is kept by keyId once read, and
// served while the listing still has the key.
//
// isUsed is Okta's: a hook write that names a hook key, or named one before
// (or of a hook the listing does not hold), drops the key listing, so the
// next read asks Okta again.

// StaleHookKeys is 1 when a sync that reads hook keys would have to fetch
// their listing, else 0: for a TokenHook whose channel uses private_key_jwt,
// on top of Stale.
func (o *Org) StaleHookKeys() int {
	if o.hookKeys.fresh(o.opts.Clock.Now(), o.opts.MaxAge) {
		return 0
	}
	return 1
}

func hookKeyID(k *okta.HookKey) string { return k.ID }

// copyHookKey copies a key without its public key: listings hold none, as
// Okta's list and get answer none.
func copyHookKey(k *okta.HookKey) *okta.HookKey {
	c := *k
	c.PublicKey = nil
	return &c
}

func (c *cachedClient) hookKeys(ctx context.Context, maxAge time.Duration) ([]*okta.HookKey, error) {
	return c.org.hookKeys.get(c.now, maxAge, func() ([]*okta.HookKey, error) { return c.next.ListHookKeys(ctx) })
}

func (c *cachedClient) ListHookKeys(ctx context.Context) ([]*okta.HookKey, error) {
	ks, err := c.hookKeys(ctx, c.org.opts.MaxAge)
	if err != nil {
		return nil, err
	}
	return copyAll(ks, copyHookKey), nil
}

func (c *cachedClient) GetHookKey(ctx context.Context, id string) (*okta.HookKey, error) {
	ks, err := c.hookKeys(ctx, c.org.opts.MaxAge)
	if err != nil {
		return nil, fmt.Errorf("get hook key %s: %w", id, err)
	}
	for _, k := range ks {
		if k.ID == id {
			return copyHookKey(k), nil
		}
	}
	// Not in the listing: deleted since, or made by someone else since.
	k, err := c.next.GetHookKey(ctx, id)
	afterWrite(&c.org.hookKeys, id, k, err, hookKeyID, copyHookKey)
	return k, err
}

// FindHookKeyByName answers "none" only from a listing younger than FreshFor,
// as FindInlineHookByName does: the caller creates the key next.
func (c *cachedClient) FindHookKeyByName(ctx context.Context, name string) (*okta.HookKey, error) {
	for _, maxAge := range []time.Duration{c.org.opts.MaxAge, c.org.opts.FreshFor} {
		ks, err := c.hookKeys(ctx, maxAge)
		if err != nil {
			return nil, err
		}
		if k, err := okta.HookKeyNamed(ks, name); err == nil {
			return copyHookKey(k), nil
		}
	}
	return nil, fmt.Errorf("find hook key named %q: %w", name, okta.ErrNotFound)
}

func (c *cachedClient) CreateHookKey(ctx context.Context, name string) (*okta.HookKey, error) {
	k, err := c.next.CreateHookKey(ctx, name)
	afterWrite(&c.org.hookKeys, "", k, err, hookKeyID, copyHookKey)
	if err == nil && k != nil && k.PublicKey != nil {
		c.org.putPublicKey(k.KeyID, k.PublicKey)
	}
	return k, err
}

// GetPublicHookKey serves a public key read before while the key listing
// has a key with this keyId; otherwise Okta answers, 404 for a deleted key.
func (c *cachedClient) GetPublicHookKey(ctx context.Context, keyID string) (*okta.PublicKey, error) {
	ks, err := c.hookKeys(ctx, c.org.opts.MaxAge)
	if err != nil {
		return nil, fmt.Errorf("get public hook key %s: %w", keyID, err)
	}
	listed := false
	for _, k := range ks {
		listed = listed || k.KeyID == keyID
	}
	if pk, ok := c.org.publicKey(keyID); ok && listed {
		return pk, nil
	}
	pk, err := c.next.GetPublicHookKey(ctx, keyID)
	switch {
	case err == nil && pk != nil:
		c.org.putPublicKey(keyID, pk)
	case errors.Is(err, okta.ErrNotFound):
		c.org.dropPublicKey(keyID)
	}
	return pk, err
}

func (c *cachedClient) DeleteHookKey(ctx context.Context, id string) error {
	var keyID string
	if items, ok := c.org.hookKeys.snapshot(c.now(), c.org.opts.MaxAge); ok {
		for _, k := range items {
			if k.ID == id {
				keyID = k.KeyID
			}
		}
	}
	err := c.next.DeleteHookKey(ctx, id)
	if err == nil || errors.Is(err, okta.ErrNotFound) {
		c.org.hookKeys.update(remove(id, hookKeyID))
		if keyID != "" {
			c.org.dropPublicKey(keyID)
		}
	} else {
		c.org.hookKeys.invalidate()
	}
	return err
}

// keysMayChange reports whether a write of hook id ("" for a create) to h
// (nil for a delete) may change a hook key's isUsed: h names a key, or the
// hook as listed did, or the listing does not say.
func (c *cachedClient) keysMayChange(id string, h *okta.InlineHook) bool {
	names := func(h *okta.InlineHook) bool { return h != nil && h.OAuth != nil && h.OAuth.HookKeyID != "" }
	if names(h) {
		return true
	}
	if id == "" {
		return false
	}
	before := c.listedHook(id)
	return before == nil || names(before)
}

// afterHookWrite drops the key listing after a hook write that may have
// changed a key's isUsed.
func (c *cachedClient) afterHookWrite(keysMayChange bool) {
	if keysMayChange {
		c.org.hookKeys.invalidate()
	}
}

// listedHook returns the hook with this ID in the hook listing, if it holds it.
func (c *cachedClient) listedHook(id string) *okta.InlineHook {
	items, ok := c.org.hooks.snapshot(c.now(), c.org.opts.MaxAge)
	if !ok {
		return nil
	}
	for _, h := range items {
		if h.ID == id {
			return h
		}
	}
	return nil
}

func (o *Org) publicKey(keyID string) (*okta.PublicKey, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	pk, ok := o.publicKeys[keyID]
	if !ok {
		return nil, false
	}
	cp := *pk
	return &cp, true
}

func (o *Org) putPublicKey(keyID string, pk *okta.PublicKey) {
	if keyID == "" {
		return
	}
	cp := *pk
	o.mu.Lock()
	defer o.mu.Unlock()
	o.publicKeys[keyID] = &cp
}

func (o *Org) dropPublicKey(keyID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.publicKeys, keyID)
}

// An app's JWKS is read only while a hook key waits to be registered there,
// and written once per key: it is not listed for sharing, every call goes
// to Okta.

func (c *cachedClient) ListAppJWKs(ctx context.Context, appID string) ([]*okta.AppJWK, error) {
	return c.next.ListAppJWKs(ctx, appID)
}

func (c *cachedClient) AddAppJWK(ctx context.Context, appID string, key okta.PublicKey) (*okta.AppJWK, error) {
	return c.next.AddAppJWK(ctx, appID, key)
}

func (c *cachedClient) DeactivateAppJWK(ctx context.Context, appID, jwkID string) (*okta.AppJWK, error) {
	return c.next.DeactivateAppJWK(ctx, appID, jwkID)
}

func (c *cachedClient) DeleteAppJWK(ctx context.Context, appID, jwkID string) error {
	return c.next.DeleteAppJWK(ctx, appID, jwkID)
}

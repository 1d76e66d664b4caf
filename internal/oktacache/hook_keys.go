package oktacache

import (
	"context"

	"github.com/tokenhook/tokenhook/internal/okta"
)

// Hook keys are not cached: the calls pass on to Okta.

func (c *cachedClient) CreateHookKey(ctx context.Context, name string) (*okta.HookKey, error) {
	return c.next.CreateHookKey(ctx, name)
}

func (c *cachedClient) GetHookKey(ctx context.Context, id string) (*okta.HookKey, error) {
	return c.next.GetHookKey(ctx, id)
}

func (c *cachedClient) FindHookKeyByName(ctx context.Context, name string) (*okta.HookKey, error) {
	return c.next.FindHookKeyByName(ctx, name)
}

func (c *cachedClient) GetPublicHookKey(ctx context.Context, keyID string) (*okta.PublicKey, error) {
	return c.next.GetPublicHookKey(ctx, keyID)
}

func (c *cachedClient) DeleteHookKey(ctx context.Context, id string) error {
	return c.next.DeleteHookKey(ctx, id)
}

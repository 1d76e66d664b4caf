// Package fake provides a function-field fake of okta.Client for unit tests that inject
// results and errors. A method whose function is not set returns an error wrapping
// ErrNotImplemented and naming the method, so a test fails loudly instead of passing on zero
// values. For behaviour close to Okta, use internal/oktasim with the real client instead.
package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tokenhook/tokenhook/internal/okta"
)

// ErrNotImplemented is wrapped by the error of a method whose function is not set.
var ErrNotImplemented = errors.New("fake okta client: method not set")

// Client implements okta.Client by calling its function fields. It is safe for concurrent use
// if the functions are.
type Client struct {
	GetInlineHookFn        func(ctx context.Context, id string) (*okta.InlineHook, error)
	FindInlineHookByNameFn func(ctx context.Context, name string) (*okta.InlineHook, error)
	ListInlineHooksFn      func(ctx context.Context) ([]*okta.InlineHook, error)
	ListPoliciesFn         func(ctx context.Context, authServerID string) ([]*okta.Policy, error)
	ListPolicyRulesFn      func(ctx context.Context, authServerID, policyID string) ([]*okta.PolicyRule, error)
	CreateInlineHookFn     func(ctx context.Context, h okta.InlineHook) (*okta.InlineHook, error)
	UpdateInlineHookFn     func(ctx context.Context, h okta.InlineHook) (*okta.InlineHook, error)
	ActivateInlineHookFn   func(ctx context.Context, id string) (*okta.InlineHook, error)
	DeactivateInlineHookFn func(ctx context.Context, id string) (*okta.InlineHook, error)
	DeleteInlineHookFn     func(ctx context.Context, id string) error
	ExecuteInlineHookFn    func(ctx context.Context, id string, payload []byte) (json.RawMessage, error)
	FindPolicyFn           func(ctx context.Context, authServerID, nameOrID string) (*okta.Policy, error)
	FindPolicyRuleFn       func(ctx context.Context, authServerID, policyID, nameOrID string) (*okta.PolicyRule, error)
	GetPolicyRuleFn        func(ctx context.Context, authServerID, policyID, ruleID string) (*okta.PolicyRule, error)
	UpdatePolicyRuleFn     func(ctx context.Context, authServerID string, r *okta.PolicyRule) (*okta.PolicyRule, error)
	CreateHookKeyFn        func(ctx context.Context, name string) (*okta.HookKey, error)
	GetHookKeyFn           func(ctx context.Context, id string) (*okta.HookKey, error)
	ListHookKeysFn         func(ctx context.Context) ([]*okta.HookKey, error)
	FindHookKeyByNameFn    func(ctx context.Context, name string) (*okta.HookKey, error)
	GetPublicHookKeyFn     func(ctx context.Context, keyID string) (*okta.PublicKey, error)
	DeleteHookKeyFn        func(ctx context.Context, id string) error
	ListAppJWKsFn          func(ctx context.Context, appID string) ([]*okta.AppJWK, error)
	AddAppJWKFn            func(ctx context.Context, appID string, key okta.PublicKey) (*okta.AppJWK, error)
	DeactivateAppJWKFn     func(ctx context.Context, appID, jwkID string) (*okta.AppJWK, error)
	DeleteAppJWKFn         func(ctx context.Context, appID, jwkID string) error
}

var _ okta.Client = (*Client)(nil)

func notSet(method string) error {
	return fmt.Errorf("fake.Client.%s called but %sFn is not set: %w", method, method, ErrNotImplemented)
}

// GetInlineHook calls GetInlineHookFn.
func (c *Client) GetInlineHook(ctx context.Context, id string) (*okta.InlineHook, error) {
	if c.GetInlineHookFn == nil {
		return nil, notSet("GetInlineHook")
	}
	return c.GetInlineHookFn(ctx, id)
}

// FindInlineHookByName calls FindInlineHookByNameFn.
func (c *Client) FindInlineHookByName(ctx context.Context, name string) (*okta.InlineHook, error) {
	if c.FindInlineHookByNameFn == nil {
		return nil, notSet("FindInlineHookByName")
	}
	return c.FindInlineHookByNameFn(ctx, name)
}

// ListInlineHooks calls ListInlineHooksFn.
func (c *Client) ListInlineHooks(ctx context.Context) ([]*okta.InlineHook, error) {
	if c.ListInlineHooksFn == nil {
		return nil, notSet("ListInlineHooks")
	}
	return c.ListInlineHooksFn(ctx)
}

// ListPolicies calls ListPoliciesFn.
func (c *Client) ListPolicies(ctx context.Context, authServerID string) ([]*okta.Policy, error) {
	if c.ListPoliciesFn == nil {
		return nil, notSet("ListPolicies")
	}
	return c.ListPoliciesFn(ctx, authServerID)
}

// ListPolicyRules calls ListPolicyRulesFn.
func (c *Client) ListPolicyRules(ctx context.Context, authServerID, policyID string) ([]*okta.PolicyRule, error) {
	if c.ListPolicyRulesFn == nil {
		return nil, notSet("ListPolicyRules")
	}
	return c.ListPolicyRulesFn(ctx, authServerID, policyID)
}

// CreateInlineHook calls CreateInlineHookFn.
func (c *Client) CreateInlineHook(ctx context.Context, h okta.InlineHook) (*okta.InlineHook, error) {
	if c.CreateInlineHookFn == nil {
		return nil, notSet("CreateInlineHook")
	}
	return c.CreateInlineHookFn(ctx, h)
}

// UpdateInlineHook calls UpdateInlineHookFn.
func (c *Client) UpdateInlineHook(ctx context.Context, h okta.InlineHook) (*okta.InlineHook, error) {
	if c.UpdateInlineHookFn == nil {
		return nil, notSet("UpdateInlineHook")
	}
	return c.UpdateInlineHookFn(ctx, h)
}

// ActivateInlineHook calls ActivateInlineHookFn.
func (c *Client) ActivateInlineHook(ctx context.Context, id string) (*okta.InlineHook, error) {
	if c.ActivateInlineHookFn == nil {
		return nil, notSet("ActivateInlineHook")
	}
	return c.ActivateInlineHookFn(ctx, id)
}

// DeactivateInlineHook calls DeactivateInlineHookFn.
func (c *Client) DeactivateInlineHook(ctx context.Context, id string) (*okta.InlineHook, error) {
	if c.DeactivateInlineHookFn == nil {
		return nil, notSet("DeactivateInlineHook")
	}
	return c.DeactivateInlineHookFn(ctx, id)
}

// DeleteInlineHook calls DeleteInlineHookFn.
func (c *Client) DeleteInlineHook(ctx context.Context, id string) error {
	if c.DeleteInlineHookFn == nil {
		return notSet("DeleteInlineHook")
	}
	return c.DeleteInlineHookFn(ctx, id)
}

// FindPolicy calls FindPolicyFn.
func (c *Client) FindPolicy(ctx context.Context, authServerID, nameOrID string) (*okta.Policy, error) {
	if c.FindPolicyFn == nil {
		return nil, notSet("FindPolicy")
	}
	return c.FindPolicyFn(ctx, authServerID, nameOrID)
}

// FindPolicyRule calls FindPolicyRuleFn.
func (c *Client) FindPolicyRule(ctx context.Context, authServerID, policyID, nameOrID string) (*okta.PolicyRule, error) {
	if c.FindPolicyRuleFn == nil {
		return nil, notSet("FindPolicyRule")
	}
	return c.FindPolicyRuleFn(ctx, authServerID, policyID, nameOrID)
}

// GetPolicyRule calls GetPolicyRuleFn.
func (c *Client) GetPolicyRule(ctx context.Context, authServerID, policyID, ruleID string) (*okta.PolicyRule, error) {
	if c.GetPolicyRuleFn == nil {
		return nil, notSet("GetPolicyRule")
	}
	return c.GetPolicyRuleFn(ctx, authServerID, policyID, ruleID)
}

// UpdatePolicyRule calls UpdatePolicyRuleFn.
func (c *Client) UpdatePolicyRule(ctx context.Context, authServerID string, r *okta.PolicyRule) (*okta.PolicyRule, error) {
	if c.UpdatePolicyRuleFn == nil {
		return nil, notSet("UpdatePolicyRule")
	}
	return c.UpdatePolicyRuleFn(ctx, authServerID, r)
}

// ExecuteInlineHook calls ExecuteInlineHookFn.
func (c *Client) ExecuteInlineHook(ctx context.Context, id string, payload []byte) (json.RawMessage, error) {
	if c.ExecuteInlineHookFn == nil {
		return nil, notSet("ExecuteInlineHook")
	}
	return c.ExecuteInlineHookFn(ctx, id, payload)
}

// CreateHookKey calls CreateHookKeyFn.
func (c *Client) CreateHookKey(ctx context.Context, name string) (*okta.HookKey, error) {
	if c.CreateHookKeyFn == nil {
		return nil, notSet("CreateHookKey")
	}
	return c.CreateHookKeyFn(ctx, name)
}

// GetHookKey calls GetHookKeyFn.
func (c *Client) GetHookKey(ctx context.Context, id string) (*okta.HookKey, error) {
	if c.GetHookKeyFn == nil {
		return nil, notSet("GetHookKey")
	}
	return c.GetHookKeyFn(ctx, id)
}

// ListHookKeys calls ListHookKeysFn.
func (c *Client) ListHookKeys(ctx context.Context) ([]*okta.HookKey, error) {
	if c.ListHookKeysFn == nil {
		return nil, notSet("ListHookKeys")
	}
	return c.ListHookKeysFn(ctx)
}

// FindHookKeyByName calls FindHookKeyByNameFn.
func (c *Client) FindHookKeyByName(ctx context.Context, name string) (*okta.HookKey, error) {
	if c.FindHookKeyByNameFn == nil {
		return nil, notSet("FindHookKeyByName")
	}
	return c.FindHookKeyByNameFn(ctx, name)
}

// GetPublicHookKey calls GetPublicHookKeyFn.
func (c *Client) GetPublicHookKey(ctx context.Context, keyID string) (*okta.PublicKey, error) {
	if c.GetPublicHookKeyFn == nil {
		return nil, notSet("GetPublicHookKey")
	}
	return c.GetPublicHookKeyFn(ctx, keyID)
}

// DeleteHookKey calls DeleteHookKeyFn.
func (c *Client) DeleteHookKey(ctx context.Context, id string) error {
	if c.DeleteHookKeyFn == nil {
		return notSet("DeleteHookKey")
	}
	return c.DeleteHookKeyFn(ctx, id)
}

// ListAppJWKs calls ListAppJWKsFn.
func (c *Client) ListAppJWKs(ctx context.Context, appID string) ([]*okta.AppJWK, error) {
	if c.ListAppJWKsFn == nil {
		return nil, notSet("ListAppJWKs")
	}
	return c.ListAppJWKsFn(ctx, appID)
}

// AddAppJWK calls AddAppJWKFn.
func (c *Client) AddAppJWK(ctx context.Context, appID string, key okta.PublicKey) (*okta.AppJWK, error) {
	if c.AddAppJWKFn == nil {
		return nil, notSet("AddAppJWK")
	}
	return c.AddAppJWKFn(ctx, appID, key)
}

// DeactivateAppJWK calls DeactivateAppJWKFn.
func (c *Client) DeactivateAppJWK(ctx context.Context, appID, jwkID string) (*okta.AppJWK, error) {
	if c.DeactivateAppJWKFn == nil {
		return nil, notSet("DeactivateAppJWK")
	}
	return c.DeactivateAppJWKFn(ctx, appID, jwkID)
}

// DeleteAppJWK calls DeleteAppJWKFn.
func (c *Client) DeleteAppJWK(ctx context.Context, appID, jwkID string) error {
	if c.DeleteAppJWKFn == nil {
		return notSet("DeleteAppJWK")
	}
	return c.DeleteAppJWKFn(ctx, appID, jwkID)
}

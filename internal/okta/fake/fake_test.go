package fake_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/okta/fake"
)

func TestUnsetMethodFailsLoudly(t *testing.T) {
	c := &fake.Client{}
	_, err := c.FindPolicyRule(context.Background(), "default", "00p1", "rule")
	if !errors.Is(err, fake.ErrNotImplemented) || !strings.Contains(err.Error(), "FindPolicyRule") {
		t.Fatalf("error = %v; want ErrNotImplemented naming FindPolicyRule", err)
	}
	if err := c.DeleteInlineHook(context.Background(), "cal1"); !strings.Contains(err.Error(), "DeleteInlineHookFn") {
		t.Fatalf("error = %v; want it to name DeleteInlineHookFn", err)
	}
}

func TestSetMethodIsCalled(t *testing.T) {
	c := &fake.Client{
		GetInlineHookFn: func(_ context.Context, id string) (*okta.InlineHook, error) {
			return &okta.InlineHook{ID: id, Status: okta.StatusActive}, nil
		},
	}
	h, err := c.GetInlineHook(context.Background(), "cal1")
	if err != nil || h.ID != "cal1" {
		t.Fatalf("GetInlineHook = %+v, %v", h, err)
	}
}

// TestHookKeyMethods: each hook key method fails loudly unset and calls its function when set.
func TestHookKeyMethods(t *testing.T) {
	ctx := context.Background()
	key := &okta.HookKey{ID: "HKY1", KeyID: "kid-1", Name: "k"}
	calls := map[string]func(c *fake.Client) error{
		"CreateHookKey":     func(c *fake.Client) error { _, err := c.CreateHookKey(ctx, "k"); return err },
		"GetHookKey":        func(c *fake.Client) error { _, err := c.GetHookKey(ctx, "HKY1"); return err },
		"ListHookKeys":      func(c *fake.Client) error { _, err := c.ListHookKeys(ctx); return err },
		"FindHookKeyByName": func(c *fake.Client) error { _, err := c.FindHookKeyByName(ctx, "k"); return err },
		"GetPublicHookKey":  func(c *fake.Client) error { _, err := c.GetPublicHookKey(ctx, "kid-1"); return err },
		"DeleteHookKey":     func(c *fake.Client) error { return c.DeleteHookKey(ctx, "HKY1") },
	}
	for name, call := range calls {
		if err := call(&fake.Client{}); !errors.Is(err, fake.ErrNotImplemented) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s unset: %v, want ErrNotImplemented naming it", name, err)
		}
	}
	called := map[string]bool{}
	c := &fake.Client{
		CreateHookKeyFn: func(context.Context, string) (*okta.HookKey, error) { called["CreateHookKey"] = true; return key, nil },
		GetHookKeyFn:    func(context.Context, string) (*okta.HookKey, error) { called["GetHookKey"] = true; return key, nil },
		ListHookKeysFn:  func(context.Context) ([]*okta.HookKey, error) { called["ListHookKeys"] = true; return nil, nil },
		FindHookKeyByNameFn: func(context.Context, string) (*okta.HookKey, error) {
			called["FindHookKeyByName"] = true
			return key, nil
		},
		GetPublicHookKeyFn: func(context.Context, string) (*okta.PublicKey, error) {
			called["GetPublicHookKey"] = true
			return &okta.PublicKey{}, nil
		},
		DeleteHookKeyFn: func(context.Context, string) error { called["DeleteHookKey"] = true; return nil },
	}
	for name, call := range calls {
		if err := call(c); err != nil || !called[name] {
			t.Errorf("%s set: %v, called %v", name, err, called[name])
		}
	}
}

// TestAppJWKMethods: each app JWKS method fails loudly unset and calls its function when set.
func TestAppJWKMethods(t *testing.T) {
	ctx := context.Background()
	calls := map[string]func(c *fake.Client) error{
		"ListAppJWKs":      func(c *fake.Client) error { _, err := c.ListAppJWKs(ctx, "0oa1"); return err },
		"AddAppJWK":        func(c *fake.Client) error { _, err := c.AddAppJWK(ctx, "0oa1", okta.PublicKey{}); return err },
		"DeactivateAppJWK": func(c *fake.Client) error { _, err := c.DeactivateAppJWK(ctx, "0oa1", "pks1"); return err },
		"DeleteAppJWK":     func(c *fake.Client) error { return c.DeleteAppJWK(ctx, "0oa1", "pks1") },
	}
	for name, call := range calls {
		if err := call(&fake.Client{}); !errors.Is(err, fake.ErrNotImplemented) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s unset: %v, want ErrNotImplemented naming it", name, err)
		}
	}
	called := map[string]bool{}
	jwk := &okta.AppJWK{ID: "pks1"}
	c := &fake.Client{
		ListAppJWKsFn: func(context.Context, string) ([]*okta.AppJWK, error) { called["ListAppJWKs"] = true; return nil, nil },
		AddAppJWKFn: func(context.Context, string, okta.PublicKey) (*okta.AppJWK, error) {
			called["AddAppJWK"] = true
			return jwk, nil
		},
		DeactivateAppJWKFn: func(context.Context, string, string) (*okta.AppJWK, error) {
			called["DeactivateAppJWK"] = true
			return jwk, nil
		},
		DeleteAppJWKFn: func(context.Context, string, string) error { called["DeleteAppJWK"] = true; return nil },
	}
	for name, call := range calls {
		if err := call(c); err != nil || !called[name] {
			t.Errorf("%s set: %v, called %v", name, err, called[name])
		}
	}
}

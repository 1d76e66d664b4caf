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

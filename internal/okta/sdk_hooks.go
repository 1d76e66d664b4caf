package okta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	oktasdk "github.com/okta/okta-sdk-golang/v2/okta"
)

// sdkClient implements Client on okta-sdk-golang/v2.
type sdkClient struct {
	sdk     *oktasdk.Client
	timeout time.Duration
}

var _ Client = (*sdkClient)(nil)

// Okta IDs are alphanumeric ("default" for the default authorization server). The SDK pastes IDs
// into paths unescaped, so anything else is refused before it can address another resource.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func checkID(kind, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: malformed %s ID %q", ErrInvalid, kind, id)
	}
	return nil
}

// call bounds one SDK call, 429 retries included.
func (c *sdkClient) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Inline hooks go through the SDK's request executor (its auth, 429 retries and error
// decoding) with this package's wire types: SDK v2's InlineHookChannelConfig has no OAUTH
// channel fields (authType, clientId, clientSecret, tokenUrl, scope, hookKeyId), so a round
// trip through it would drop them on write and hide an OAUTH channel on read.

const hooksPath = "/api/v1/inlineHooks"

func (c *sdkClient) GetInlineHook(ctx context.Context, id string) (*InlineHook, error) {
	if err := checkID("inline hook", id); err != nil {
		return nil, fmt.Errorf("get inline hook: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var w hookWire
	if err := c.do(ctx, http.MethodGet, hooksPath+"/"+id, nil, &w); err != nil {
		return nil, fmt.Errorf("get inline hook %s: %w", id, err)
	}
	return hookOrError("get inline hook "+id, &w)
}

func (c *sdkClient) ListInlineHooks(ctx context.Context) ([]*InlineHook, error) {
	ctx, cancel := c.call(ctx)
	defer cancel()
	raws, err := c.listRaw(ctx, hooksPath+"?type="+url.QueryEscape(TokenHookType))
	if err != nil {
		return nil, fmt.Errorf("list inline hooks: %w", err)
	}
	out := make([]*InlineHook, 0, len(raws))
	for _, raw := range raws {
		var h hookWire
		if err := json.Unmarshal(raw, &h); err != nil {
			return nil, fmt.Errorf("list inline hooks: decode: %w", err)
		}
		// The type check guards against a server that ignores the filter.
		if h.Type == TokenHookType && h.ID != "" {
			out = append(out, fromWire(&h))
		}
	}
	return out, nil
}

func (c *sdkClient) FindInlineHookByName(ctx context.Context, name string) (*InlineHook, error) {
	hooks, err := c.ListInlineHooks(ctx)
	if err != nil {
		return nil, err
	}
	return HookNamed(hooks, name)
}

// HookNamed picks the hook with this exact name from a listing; ErrNotFound if none.
func HookNamed(hooks []*InlineHook, name string) (*InlineHook, error) {
	for _, h := range hooks {
		if h.Name == name {
			return h, nil
		}
	}
	return nil, fmt.Errorf("find inline hook named %q: %w", name, ErrNotFound)
}

func (c *sdkClient) CreateInlineHook(ctx context.Context, h InlineHook) (*InlineHook, error) {
	body, err := toWire(h, true)
	if err != nil {
		return nil, fmt.Errorf("create inline hook %q: %w", h.Name, err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var w hookWire
	if err := c.do(ctx, http.MethodPost, hooksPath, body, &w); err != nil {
		return nil, fmt.Errorf("create inline hook %q: %w", h.Name, err)
	}
	return hookOrError("create inline hook "+h.Name, &w)
}

func (c *sdkClient) UpdateInlineHook(ctx context.Context, h InlineHook) (*InlineHook, error) {
	if err := checkID("inline hook", h.ID); err != nil {
		return nil, fmt.Errorf("update inline hook %q: %w", h.Name, err)
	}
	body, err := toWire(h, false)
	if err != nil {
		return nil, fmt.Errorf("update inline hook %s: %w", h.ID, err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var w hookWire
	if err := c.do(ctx, http.MethodPut, hooksPath+"/"+h.ID, body, &w); err != nil {
		return nil, fmt.Errorf("update inline hook %s: %w", h.ID, err)
	}
	return hookOrError("update inline hook "+h.ID, &w)
}

func (c *sdkClient) ActivateInlineHook(ctx context.Context, id string) (*InlineHook, error) {
	return c.hookLifecycle(ctx, "activate", id)
}

func (c *sdkClient) DeactivateInlineHook(ctx context.Context, id string) (*InlineHook, error) {
	return c.hookLifecycle(ctx, "deactivate", id)
}

func (c *sdkClient) hookLifecycle(ctx context.Context, op, id string) (*InlineHook, error) {
	if err := checkID("inline hook", id); err != nil {
		return nil, fmt.Errorf("%s inline hook: %w", op, err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var w hookWire
	if err := c.do(ctx, http.MethodPost, hooksPath+"/"+id+"/lifecycle/"+op, nil, &w); err != nil {
		return nil, fmt.Errorf("%s inline hook %s: %w", op, id, err)
	}
	return hookOrError(op+" inline hook "+id, &w)
}

func (c *sdkClient) DeleteInlineHook(ctx context.Context, id string) error {
	if err := checkID("inline hook", id); err != nil {
		return fmt.Errorf("delete inline hook: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	if err := c.do(ctx, http.MethodDelete, hooksPath+"/"+id, nil, nil); err != nil {
		return fmt.Errorf("delete inline hook %s: %w", id, err)
	}
	return nil
}

// Channel types of an inline hook.
const (
	channelHTTP  = "HTTP"
	channelOAuth = "OAUTH"
)

// hookWire is an inline hook on the wire: InlineHookCreate and InlineHookReplace (which has no
// type) out, InlineHook in.
type hookWire struct {
	ID      string       `json:"id,omitempty"`
	Status  string       `json:"status,omitempty"`
	Name    string       `json:"name"`
	Type    string       `json:"type,omitempty"`
	Version string       `json:"version"`
	Channel *channelWire `json:"channel"`
}

type channelWire struct {
	Type    string             `json:"type"`
	Version string             `json:"version"`
	Config  *channelConfigWire `json:"config"`
}

// channelConfigWire is the config of either channel type. authScheme is left out of an OAUTH
// channel (the spec: "Must be null"); Okta answers it as null.
type channelConfigWire struct {
	URI          string          `json:"uri"`
	Method       string          `json:"method"`
	Headers      []headerWire    `json:"headers,omitempty"`
	AuthScheme   *authSchemeWire `json:"authScheme,omitempty"`
	AuthType     string          `json:"authType,omitempty"`
	ClientID     string          `json:"clientId,omitempty"`
	ClientSecret string          `json:"clientSecret,omitempty"`
	TokenURL     string          `json:"tokenUrl,omitempty"`
	Scope        string          `json:"scope,omitempty"`
	HookKeyID    string          `json:"hookKeyId,omitempty"`
}

type headerWire struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type authSchemeWire struct {
	Type  string `json:"type,omitempty"`
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
}

// toWire builds the full create (withType) or replace body, the secret of either channel
// included.
func toWire(h InlineHook, withType bool) ([]byte, error) {
	cfg := &channelConfigWire{URI: h.URL, Method: http.MethodPost}
	for _, hd := range h.Headers {
		cfg.Headers = append(cfg.Headers, headerWire(hd))
	}
	ch := &channelWire{Type: channelHTTP, Version: "1.0.0", Config: cfg}
	switch o := h.OAuth; {
	case o != nil && (h.AuthHeader != "" || h.AuthSecret != ""):
		return nil, fmt.Errorf("%w: an OAUTH channel takes no auth header or secret", ErrInvalid)
	case o != nil:
		ch.Type = channelOAuth
		cfg.AuthType, cfg.ClientID, cfg.ClientSecret = o.AuthType, o.ClientID, o.ClientSecret
		cfg.TokenURL, cfg.Scope, cfg.HookKeyID = o.TokenURL, o.Scope, o.HookKeyID
	case h.AuthHeader != "" || h.AuthSecret != "":
		cfg.AuthScheme = &authSchemeWire{Type: "HEADER", Key: h.AuthHeader, Value: h.AuthSecret}
	}
	w := hookWire{Name: h.Name, Version: "1.0.0", Channel: ch}
	if withType {
		w.Type = TokenHookType
	}
	return json.Marshal(w)
}

// hookOrError guards against a 2xx without a body.
func hookOrError(op string, h *hookWire) (*InlineHook, error) {
	if h == nil || h.ID == "" {
		return nil, fmt.Errorf("%s: okta answered without an inline hook", op)
	}
	return fromWire(h), nil
}

// fromWire never copies a secret: Okta does not return them.
func fromWire(h *hookWire) *InlineHook {
	out := &InlineHook{ID: h.ID, Name: h.Name, Status: h.Status}
	if h.Channel == nil || h.Channel.Config == nil {
		return out
	}
	cfg := h.Channel.Config
	out.URL = cfg.URI
	for _, hd := range cfg.Headers {
		out.Headers = append(out.Headers, Header(hd))
	}
	switch {
	case strings.EqualFold(h.Channel.Type, channelOAuth):
		out.OAuth = &OAuthChannel{AuthType: cfg.AuthType, ClientID: cfg.ClientID, HookKeyID: cfg.HookKeyID,
			TokenURL: cfg.TokenURL, Scope: cfg.Scope}
	case cfg.AuthScheme != nil:
		out.AuthHeader = cfg.AuthScheme.Key
	}
	return out
}

// ExecuteInlineHook goes through the request executor: SDK v2's InlineHookPayload is an empty
// struct and its InlineHookResponse drops the error object (SPEC 4).
func (c *sdkClient) ExecuteInlineHook(ctx context.Context, id string, payload []byte) (json.RawMessage, error) {
	if err := checkID("inline hook", id); err != nil {
		return nil, fmt.Errorf("execute inline hook: %w", err)
	}
	ctx, cancel := c.call(ctx)
	defer cancel()
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/api/v1/inlineHooks/"+id+"/execute", payload, &raw); err != nil {
		return nil, fmt.Errorf("execute inline hook %s: %w", id, err)
	}
	return raw, nil
}

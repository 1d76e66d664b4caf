// Package okta is the operator's seam to the Okta management API: the few inline hook, hook
// key and authorization server calls the controller makes, an implementation on
// okta-sdk-golang/v2 (through its request executor with this package's wire types where SDK v2
// lacks the API: OAUTH channels, hook keys, rules), an error classification the controller can
// act on, and a metrics decorator.
//
// The controller depends on the Client interface only; tests use internal/okta/fake or the real
// implementation against internal/oktasim.
package okta

import (
	"context"
	"encoding/json"
)

// Inline hook statuses as Okta reports them.
const (
	StatusActive   = "ACTIVE"
	StatusInactive = "INACTIVE"
)

// TokenHookType is the only inline hook type this package manages.
const TokenHookType = "com.okta.oauth2.tokens.transform"

// InlineHook is a token inline hook (type com.okta.oauth2.tokens.transform) with an HTTP
// channel (OAuth nil: Okta sends AuthSecret in the AuthHeader header) or an OAUTH channel
// (OAuth set, AuthHeader and AuthSecret empty: Okta sends an access token it gets from
// OAuth.TokenURL).
type InlineHook struct {
	ID     string
	Name   string
	Status string // StatusActive or StatusInactive; changed only by Activate/Deactivate.
	URL    string // channel.config.uri

	// AuthHeader is the header Okta sends the secret in (channel.config.authScheme.key). Okta may
	// report it in another case than it was written: compare it case-insensitively.
	AuthHeader string
	// AuthSecret is channel.config.authScheme.value. Okta never returns it, so it is sent on
	// create and update and is always empty in what this package returns.
	AuthSecret string

	Headers []Header // channel.config.headers; the controller keeps its ownership marker here.

	// OAuth is the config of an OAUTH channel; nil for an HTTP channel. A hook read from Okta
	// has it exactly when Okta reports channel.type OAUTH, so a changed channel type shows as
	// drift.
	OAuth *OAuthChannel
}

// Authentication methods of an OAUTH channel at its token URL (channel.config.authType).
const (
	AuthTypeClientSecretPost = "client_secret_post"
	AuthTypePrivateKeyJWT    = "private_key_jwt"
)

// OAuthChannel is an OAUTH channel: before each hook call (or when its token expired) Okta gets
// an access token with the client credentials grant at TokenURL as ClientID, and sends it as
// "Authorization: Bearer <token>".
type OAuthChannel struct {
	AuthType string // AuthTypeClientSecretPost or AuthTypePrivateKeyJWT
	ClientID string // channel.config.clientId: the OAuth app at TokenURL
	// ClientSecret is channel.config.clientSecret (client_secret_post). Okta never returns it,
	// so it is sent on create and update and is always empty in what this package returns.
	ClientSecret string
	// HookKeyID is channel.config.hookKeyId (private_key_jwt): the ID (HookKey.ID, not its
	// KeyID) of the hook key whose private key signs Okta's client assertion.
	HookKeyID string
	TokenURL  string // channel.config.tokenUrl, https
	Scope     string // channel.config.scope, space-separated; "" when Okta reports null
}

// HookKey is a key pair Okta generated and keeps for OAUTH channels with private_key_jwt; its
// public key belongs in the JWKS of the channel's OAuth app.
type HookKey struct {
	ID     string // HKY…: what OAuthChannel.HookKeyID names
	KeyID  string // the public key's alias (kid), for GetPublicHookKey
	Name   string // unique in the org
	IsUsed bool   // a hook's channel names the key, so it cannot be deleted
	// PublicKey is the public key where Okta answered it (CreateHookKey); nil otherwise.
	PublicKey *PublicKey
}

// PublicKey is a hook key's public key as Okta serves it (a JWK).
type PublicKey struct {
	KeyID     string // kid
	Type      string // kty: RSA
	Algorithm string // alg as Okta reports it, "RSA"; Okta signs with RS256
	Use       string // null in Okta's answers
	N         string // modulus, base64url
	E         string // exponent, base64url
}

// Header is an extra header Okta sends with each hook call.
type Header struct {
	Key   string
	Value string
}

// Policy is an authorization server access policy.
type Policy struct {
	ID   string
	Name string
}

// PolicyRule is an authorization server policy rule.
//
// It also keeps the whole rule as Okta returned it, so UpdatePolicyRule can PUT every field it
// does not own unchanged. A PolicyRule must therefore come from FindPolicyRule, GetPolicyRule or
// UpdatePolicyRule; only InlineHookID is applied on update, the other exported fields are read-only.
type PolicyRule struct {
	ID       string
	PolicyID string
	Name     string
	Status   string

	// InlineHookID is actions.token.inlineHook.id; "" means no hook.
	InlineHookID string

	raw json.RawMessage
}

// Client is what the controller needs from Okta. Every method is safe for concurrent use.
//
// Errors: ErrNotFound (errors.Is) when the object is absent; otherwise use IsTransient (retry with
// backoff) and IsTerminal (Okta rejected the request: the spec is wrong, retrying will not help).
// An *APIError (errors.As) keeps Okta's errorCode and errorSummary. Error strings never contain
// secrets.
type Client interface {
	// GetInlineHook reads a hook by ID, e.g. the one recorded in status, to observe drift.
	// ErrNotFound if it was deleted.
	GetInlineHook(ctx context.Context, id string) (*InlineHook, error)

	// FindInlineHookByName lists token hooks (?type=com.okta.oauth2.tokens.transform) and returns
	// the one with exactly this name: used to adopt a hook created before its ID was recorded.
	// ErrNotFound if none; hooks of other types are never returned.
	FindInlineHookByName(ctx context.Context, name string) (*InlineHook, error)

	// ListInlineHooks lists the org's token hooks (every page; hooks of other types are never
	// returned): one listing can serve every TokenHook of an org.
	ListInlineHooks(ctx context.Context) ([]*InlineHook, error)

	// CreateInlineHook creates a token hook from h (ID and Status are ignored) with an HTTP
	// channel, or an OAUTH channel when h.OAuth is set. Okta creates it ACTIVE. Names are unique
	// in an org: a duplicate is a terminal error, as is an OAUTH channel Okta refuses (e.g. a
	// hookKeyId that names no hook key).
	CreateInlineHook(ctx context.Context, h InlineHook) (*InlineHook, error)

	// UpdateInlineHook replaces the hook h.ID (full PUT: name, URL, channel with its auth
	// header and secret or its OAuth config and client secret, headers) when it drifted or a
	// secret rotated; it may move the hook from one channel type to the other. The secret of
	// the channel is always sent. The status is unchanged.
	UpdateInlineHook(ctx context.Context, h InlineHook) (*InlineHook, error)

	// ActivateInlineHook sets the hook ACTIVE (idempotent). ErrNotFound if absent.
	ActivateInlineHook(ctx context.Context, id string) (*InlineHook, error)

	// DeactivateInlineHook sets the hook INACTIVE (idempotent): the step before DeleteInlineHook.
	DeactivateInlineHook(ctx context.Context, id string) (*InlineHook, error)

	// ExecuteInlineHook asks Okta to call the ACTIVE hook id through its channel (URL, auth
	// header, secret and headers, as on a token request) with payload, a token hook event, and
	// returns the hook's answer as Okta relays it. Okta waits 3 s and retries once; when no
	// successful answer comes, Okta answers 400, a terminal *APIError whose summary and causes
	// say what failed. ErrNotFound if the hook is absent.
	ExecuteInlineHook(ctx context.Context, id string, payload []byte) (json.RawMessage, error)

	// DeleteInlineHook deletes an INACTIVE hook; deleting an ACTIVE one is a terminal error.
	// ErrNotFound if it is already gone, which a finalizer may treat as done.
	DeleteInlineHook(ctx context.Context, id string) error

	// ListPolicies lists an authorization server's access policies. ErrNotFound if the server
	// is absent.
	ListPolicies(ctx context.Context, authServerID string) ([]*Policy, error)

	// ListPolicyRules lists a policy's rules, each fit for UpdatePolicyRule. ErrNotFound if the
	// server or the policy is absent.
	ListPolicyRules(ctx context.Context, authServerID, policyID string) ([]*PolicyRule, error)

	// FindPolicy finds an access policy of an authorization server by ID or, failing that, by
	// exact name. ErrNotFound if the server or the policy is absent; ErrAmbiguous if the name
	// matches several policies.
	FindPolicy(ctx context.Context, authServerID, nameOrID string) (*Policy, error)

	// FindPolicyRule finds a rule of a policy by ID or, failing that, by exact name.
	// ErrNotFound if the server, policy or rule is absent; ErrAmbiguous if the name matches
	// several rules.
	FindPolicyRule(ctx context.Context, authServerID, policyID, nameOrID string) (*PolicyRule, error)

	// GetPolicyRule reads a rule by ID, e.g. the one recorded in status. ErrNotFound if absent.
	GetPolicyRule(ctx context.Context, authServerID, policyID, ruleID string) (*PolicyRule, error)

	// UpdatePolicyRule PUTs r as read from Okta with r.InlineHookID applied ("" removes the hook)
	// and every other field unchanged. Read the rule just before, so the PUT does not revert
	// someone else's edit.
	UpdatePolicyRule(ctx context.Context, authServerID string, r *PolicyRule) (*PolicyRule, error)

	// CreateHookKey has Okta generate a key pair named name, for an OAUTH channel with
	// private_key_jwt; the answer carries its PublicKey. Names are unique and an org has at
	// most 50 keys: both are terminal errors.
	CreateHookKey(ctx context.Context, name string) (*HookKey, error)

	// GetHookKey reads a hook key by ID, e.g. the one recorded in status. ErrNotFound if it was
	// deleted. PublicKey is nil: use GetPublicHookKey.
	GetHookKey(ctx context.Context, id string) (*HookKey, error)

	// ListHookKeys lists the org's hook keys (at most 50), without their public keys: one
	// listing can serve every TokenHook of an org.
	ListHookKeys(ctx context.Context) ([]*HookKey, error)

	// FindHookKeyByName lists the hook keys and returns the one with exactly this name: used to
	// adopt a key created before its ID was recorded. ErrNotFound if none.
	FindHookKeyByName(ctx context.Context, name string) (*HookKey, error)

	// GetPublicHookKey reads the public key of a hook key by its KeyID (not its ID), e.g. to
	// register it with the channel's OAuth app. ErrNotFound if absent.
	GetPublicHookKey(ctx context.Context, keyID string) (*PublicKey, error)

	// DeleteHookKey deletes a hook key no hook uses; deleting one in use is a terminal error.
	// ErrNotFound if it is already gone.
	DeleteHookKey(ctx context.Context, id string) error

	// ListAppJWKs lists the JSON Web Keys of an OAuth app (appID is the app's ID, which is its
	// client ID unless one was chosen at creation): to see whether a hook key's public key is
	// registered there. Needs okta.apps.read: without it Okta answers 403, a terminal error.
	// ErrNotFound if the app is absent.
	ListAppJWKs(ctx context.Context, appID string) ([]*AppJWK, error)

	// AddAppJWK adds key, ACTIVE, to an app's JWKS as a signing key (RS256). Needs
	// okta.apps.manage. A kid already in the JWKS, and more than 50 keys, are terminal errors.
	AddAppJWK(ctx context.Context, appID string, key PublicKey) (*AppJWK, error)

	// DeactivateAppJWK sets a key of an app's JWKS INACTIVE (idempotent): the step before
	// DeleteAppJWK. Deactivating the only active key of a private_key_jwt app is a terminal
	// error. ErrNotFound if the app or the key is absent.
	DeactivateAppJWK(ctx context.Context, appID, jwkID string) (*AppJWK, error)

	// DeleteAppJWK deletes an INACTIVE key of an app's JWKS (jwkID is AppJWK.ID, not the kid);
	// deleting an ACTIVE one is a terminal error. ErrNotFound if it is already gone.
	DeleteAppJWK(ctx context.Context, appID, jwkID string) error
}

// Package protocol holds the wire types of Okta's token inline hook
// (event type com.okta.oauth2.tokens.transform), for both sides of the call:
// the hook server decodes events and encodes responses, and a simulator of Okta
// builds events and applies the returned commands.
//
// The field list follows Okta's OpenAPI (TokenPayLoad, TokenHookResponse); every
// decode is tolerant, ignoring fields Okta may add.
package protocol

import (
	"encoding/json"
	"fmt"
)

// EventType is the only event type a token inline hook receives.
const EventType = "com.okta.oauth2.tokens.transform"

// Command types, one per token a command patches.
const (
	IdentityPatch = "com.okta.identity.patch"
	AccessPatch   = "com.okta.access.patch"
)

// Event is the body Okta POSTs to a token inline hook.
type Event struct {
	Source            string `json:"source,omitempty"`
	EventID           string `json:"eventId,omitempty"`
	EventTime         string `json:"eventTime,omitempty"`
	EventTypeVersion  string `json:"eventTypeVersion,omitempty"`
	CloudEventVersion string `json:"cloudEventVersion,omitempty"`
	ContentType       string `json:"contentType,omitempty"`
	EventType         string `json:"eventType"`
	Data              Data   `json:"data"`
}

// Data carries the request context and the tokens Okta is about to sign.
// Identity and Access are nil when Okta does not mint that token, and a hook
// must not send commands for a nil one: Okta would reject the whole patch.
type Data struct {
	Context      Context       `json:"context"`
	Identity     *MintedToken  `json:"identity,omitempty"`
	Access       *MintedToken  `json:"access,omitempty"`
	RefreshToken *RefreshToken `json:"refresh_token,omitempty"`
}

// Context describes the request that triggered the hook. User and Session are
// nil when there is no end user (client credentials).
type Context struct {
	Request  *Request  `json:"request,omitempty"`
	Protocol *Protocol `json:"protocol,omitempty"`
	Session  *Session  `json:"session,omitempty"`
	User     *User     `json:"user,omitempty"`
	Policy   *Policy   `json:"policy,omitempty"`
}

// Request is the HTTP request made to Okta's authorization server.
type Request struct {
	ID        string `json:"id,omitempty"`
	Method    string `json:"method,omitempty"`
	URL       URL    `json:"url"`
	IPAddress string `json:"ipAddress,omitempty"`
}

// URL is the full request URL, query included.
type URL struct {
	Value string `json:"value,omitempty"`
}

// Protocol describes the OAuth 2.0 request.
type Protocol struct {
	Type          string           `json:"type,omitempty"`
	Request       *ProtocolRequest `json:"request,omitempty"`
	OriginalGrant *OriginalGrant   `json:"OriginalGrant,omitempty"`
	Issuer        *Issuer          `json:"issuer,omitempty"`
	Client        *Client          `json:"client,omitempty"`
}

// GrantClientCredentials is the grant type of a token minted with no end user.
const GrantClientCredentials = "client_credentials"

// ProtocolRequest holds the OAuth 2.0 request parameters.
type ProtocolRequest struct {
	ClientID     string `json:"client_id,omitempty"`
	GrantType    string `json:"grant_type,omitempty"`
	RedirectURI  string `json:"redirect_uri,omitempty"`
	ResponseMode string `json:"response_mode,omitempty"`
	ResponseType string `json:"response_type,omitempty"`
	Scope        string `json:"scope,omitempty"`
	State        string `json:"state,omitempty"`
}

// OriginalGrant is present on refresh-token grants.
type OriginalGrant struct {
	Authorization *ProtocolRequest `json:"authorization,omitempty"`
	RefreshToken  *RefreshToken    `json:"refresh_token,omitempty"`
}

// Issuer is the authorization server.
type Issuer struct {
	URI string `json:"uri,omitempty"`
}

// Client is the OAuth client asking for tokens.
type Client struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"`
}

// Session is the user's Okta session.
type Session struct {
	ID                       string   `json:"id,omitempty"`
	UserID                   string   `json:"userId,omitempty"`
	Login                    string   `json:"login,omitempty"`
	CreatedAt                string   `json:"createdAt,omitempty"`
	ExpiresAt                string   `json:"expiresAt,omitempty"`
	Status                   string   `json:"status,omitempty"`
	LastPasswordVerification string   `json:"lastPasswordVerification,omitempty"`
	AMR                      []string `json:"amr,omitempty"`
	IDP                      *IDP     `json:"idp,omitempty"`
	MFAActive                bool     `json:"mfaActive"`
}

// IDP is the identity provider that authenticated the user.
type IDP struct {
	ID   string `json:"id,omitempty"`
	Type string `json:"type,omitempty"`
}

// User is the end user the tokens are for.
type User struct {
	ID              string          `json:"id,omitempty"`
	PasswordChanged string          `json:"passwordChanged,omitempty"`
	Profile         UserProfile     `json:"profile"`
	Links           map[string]Link `json:"_links,omitempty"`
}

// UserProfile holds the user's profile attributes Okta sends.
type UserProfile struct {
	Login     string `json:"login,omitempty"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
	Locale    string `json:"locale,omitempty"`
	TimeZone  string `json:"timeZone,omitempty"`
}

// Link is a HAL link.
type Link struct {
	Href string `json:"href,omitempty"`
}

// Policy identifies the authorization server policy and the rule that minted the tokens.
type Policy struct {
	ID   string     `json:"id,omitempty"`
	Rule PolicyRule `json:"rule"`
}

// PolicyRule identifies a policy rule.
type PolicyRule struct {
	ID string `json:"id,omitempty"`
}

// MintedToken is an ID or access token before signing.
type MintedToken struct {
	Claims map[string]any `json:"claims"`
	Token  TokenInfo      `json:"token"`
	// Scopes is set on access tokens only, keyed by scope name.
	Scopes map[string]Scope `json:"scopes,omitempty"`
}

// TokenInfo holds token properties other than claims.
type TokenInfo struct {
	Lifetime Lifetime `json:"lifetime"`
}

// Lifetime is a token's lifetime.
type Lifetime struct {
	// Expiration is in seconds.
	Expiration int64 `json:"expiration"`
}

// Scope is a granted scope.
type Scope struct {
	ID     string `json:"id,omitempty"`
	Action string `json:"action,omitempty"`
}

// RefreshToken identifies a refresh token.
type RefreshToken struct {
	JTI string `json:"jti,omitempty"`
}

// DecodeEvent decodes an event, ignoring unknown fields. It checks the JSON only,
// not the event type: see Event.EventType.
func DecodeEvent(data []byte) (*Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode token hook event: %w", err)
	}
	return &e, nil
}

// Claim names the user lookup reads.
const (
	claimPreferredUsername = "preferred_username"
	claimSubject           = "sub"
	claimUserID            = "uid" // in access tokens minted for a user
)

// Login returns the user's login, looked up in this order:
// data.context.user.profile.login (present whenever there is an end user),
// data.identity.claims.preferred_username (Okta's sample), then
// data.access.claims.sub (the login by default in access tokens).
// It returns "" when none is set.
func (e *Event) Login() string {
	if u := e.Data.Context.User; u != nil && u.Profile.Login != "" {
		return u.Profile.Login
	}
	if t := e.Data.Identity; t != nil {
		if v, ok := t.Claims[claimPreferredUsername].(string); ok && v != "" {
			return v
		}
	}
	if t := e.Data.Access; t != nil {
		if v, ok := t.Claims[claimSubject].(string); ok && v != "" {
			return v
		}
	}
	return ""
}

// GrantType returns data.context.protocol.request.grant_type, or "".
func (e *Event) GrantType() string {
	if p := e.Data.Context.Protocol; p != nil && p.Request != nil {
		return p.Request.GrantType
	}
	return ""
}

// HasEndUser reports whether the tokens are minted for a user, who has a login:
// not for the client credentials grant, and only with a sign of a user (a user
// or session context, an ID token, or a uid claim in the access token), so that
// a machine client's access token sub is never taken for a login.
func (e *Event) HasEndUser() bool {
	if e.GrantType() == GrantClientCredentials || e.Login() == "" {
		return false
	}
	d := e.Data
	if d.Context.User != nil || d.Context.Session != nil || d.Identity != nil {
		return true
	}
	if d.Access == nil {
		return false
	}
	uid, _ := d.Access.Claims[claimUserID].(string)
	return uid != ""
}

// Has reports whether Okta is minting token t in this call.
func (e *Event) Has(t Token) bool {
	switch t {
	case IDToken:
		return e.Data.Identity != nil
	case AccessToken:
		return e.Data.Access != nil
	}
	return false
}

// Tokens lists the tokens Okta is minting, ID token first.
func (e *Event) Tokens() []Token {
	var ts []Token
	for _, t := range AllTokens {
		if e.Has(t) {
			ts = append(ts, t)
		}
	}
	return ts
}

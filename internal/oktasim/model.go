package oktasim

import (
	"slices"
	"time"
)

// Object statuses.
const (
	StatusActive   = "ACTIVE"
	StatusInactive = "INACTIVE"
)

// Inline hook types Okta accepts. The operator manages HookTypeToken only.
const (
	HookTypeToken          = "com.okta.oauth2.tokens.transform"
	HookTypeImport         = "com.okta.import.transform"
	HookTypeSAML           = "com.okta.saml.tokens.transform"
	HookTypeTelephony      = "com.okta.telephony.provider"
	HookTypePasswordImport = "com.okta.user.credential.password.import"
	HookTypeRegistration   = "com.okta.user.pre-registration"
)

var hookTypes = []string{HookTypeToken, HookTypeImport, HookTypeSAML, HookTypeTelephony, HookTypePasswordImport, HookTypeRegistration}

// HookSpec is the writable part of an inline hook: what a create or full replace sends.
type HookSpec struct {
	Name    string
	Type    string // immutable after create
	Version string // "1.0.0"
	Channel Channel
}

// Channel is how Okta calls the hook.
type Channel struct {
	Type    string // HTTP or OAUTH
	Version string // "1.0.0"
	URI     string
	Method  string // POST
	Headers []Header

	AuthScheme *AuthScheme   // HTTP channel only
	OAuth      *OAuthChannel // OAUTH channel only
}

// Header is an extra header Okta sends with each hook call.
type Header struct {
	Key   string
	Value string
}

// AuthScheme is the header Okta sends with each hook call. Value is write-only in the API; the
// snapshots this package returns to tests include it.
type AuthScheme struct {
	Type  string // HEADER
	Key   string
	Value string
}

// OAuthChannel is the config of an OAUTH channel. ClientSecret is write-only in the API.
type OAuthChannel struct {
	AuthType     string // OAuthClientSecretPost or OAuthPrivateKeyJWT
	ClientID     string // the OAuth app Okta gets the access token as
	ClientSecret string // client_secret_post only
	TokenURL     string // the token endpoint, https
	Scope        string // space-separated; "" asks for none
	HookKeyID    string // private_key_jwt only: the id (HKY…) of the hook key that signs
}

// Hook is a stored inline hook, secrets included.
type Hook struct {
	ID     string
	Status string
	HookSpec
	Created     time.Time
	LastUpdated time.Time
}

// AuthServerSpec describes an authorization server to add. An empty ID gets a generated aus… ID.
type AuthServerSpec struct {
	ID          string
	Name        string
	Description string
	Audiences   []string
}

// AuthServer is a custom authorization server.
type AuthServer struct {
	AuthServerSpec
	Status      string
	Created     time.Time
	LastUpdated time.Time
}

// PolicySpec is the writable part of an authorization server access policy.
type PolicySpec struct {
	Name        string
	Description string
	Status      string   // ACTIVE (default) or INACTIVE; changed by lifecycle calls afterwards
	Priority    int      // 0: last on create, unchanged on replace
	Clients     []string // conditions.clients.include: client IDs or ALL_CLIENTS
}

// Policy is a stored access policy.
type Policy struct {
	ID           string
	AuthServerID string
	PolicySpec
	System      bool
	Created     time.Time
	LastUpdated time.Time
}

// RuleSpec is the writable part of a policy rule. Zero lifetimes select Okta's defaults.
type RuleSpec struct {
	Name       string
	Status     string // ACTIVE (default) or INACTIVE; changed by lifecycle calls afterwards
	Priority   int    // 0: last on create, unchanged on replace
	Conditions RuleConditions
	Token      TokenActions
}

// RuleConditions says which token requests a rule applies to.
type RuleConditions struct {
	Users      IncludeExclude // conditions.people.users
	Groups     IncludeExclude // conditions.people.groups; EVERYONE matches all
	GrantTypes []string       // conditions.grantTypes.include
	Scopes     []string       // conditions.scopes.include; * matches all
}

// IncludeExclude is an include/exclude pair of IDs.
type IncludeExclude struct {
	Include []string
	Exclude []string
}

// TokenActions is actions.token of a rule.
type TokenActions struct {
	AccessTokenLifetimeMinutes  int
	RefreshTokenLifetimeMinutes int // 0: unlimited
	RefreshTokenWindowMinutes   int
	InlineHookID                string // "" = no hook
}

// Rule is a stored policy rule.
type Rule struct {
	ID           string
	AuthServerID string
	PolicyID     string
	Type         string // RESOURCE_ACCESS
	RuleSpec
	System      bool
	Created     time.Time
	LastUpdated time.Time
}

// Defaults Okta applies to rule token lifetimes.
const (
	DefaultAccessTokenLifetimeMinutes  = 60
	DefaultRefreshTokenLifetimeMinutes = 0
	DefaultRefreshTokenWindowMinutes   = 10080
)

// Copies, so snapshots never alias the org's state.

func (h Hook) clone() Hook {
	h.Channel.Headers = slices.Clone(h.Channel.Headers)
	if h.Channel.AuthScheme != nil {
		a := *h.Channel.AuthScheme
		h.Channel.AuthScheme = &a
	}
	if h.Channel.OAuth != nil {
		o := *h.Channel.OAuth
		h.Channel.OAuth = &o
	}
	return h
}

func (s AuthServer) clone() AuthServer {
	s.Audiences = slices.Clone(s.Audiences)
	return s
}

func (p Policy) clone() Policy {
	p.Clients = slices.Clone(p.Clients)
	return p
}

func (r Rule) clone() Rule {
	c := &r.Conditions
	c.Users = IncludeExclude{Include: slices.Clone(c.Users.Include), Exclude: slices.Clone(c.Users.Exclude)}
	c.Groups = IncludeExclude{Include: slices.Clone(c.Groups.Include), Exclude: slices.Clone(c.Groups.Exclude)}
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.Scopes = slices.Clone(c.Scopes)
	return r
}

package oktasim

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

const (
	hookVersion = "1.0.0"
	ruleType    = "RESOURCE_ACCESS"
	policyType  = "OAUTH_AUTHORIZATION_POLICY"
)

const (
	channelHTTP  = "HTTP"
	channelOAuth = "OAUTH"
)

// Authentication methods of an OAUTH channel at its tokenUrl (channel.config.authType).
const (
	OAuthClientSecretPost = "client_secret_post"
	OAuthPrivateKeyJWT    = "private_key_jwt"
)

// Headers Okta sets on hook calls itself, so a hook may not configure them.
var reservedHookHeaders = []string{"accept", "content-type", "content-length", "host"}

// validateHookLocked checks a create (existing == nil) or full replace like Okta, filling
// defaults (method POST, type kept on replace).
func (o *org) validateHookLocked(spec *HookSpec, existing *Hook) *Error {
	v := &validation{}
	switch {
	case strings.TrimSpace(spec.Name) == "":
		v.add("name", "The field cannot be left blank")
	case len(spec.Name) > 255:
		v.add("name", "The field cannot exceed 255 characters")
	default:
		for _, h := range o.hooks {
			if h.Name == spec.Name && (existing == nil || h.ID != existing.ID) {
				v.add("name", "An object with this field already exists in the current organization")
			}
		}
	}
	switch {
	case existing != nil && spec.Type == "":
		spec.Type = existing.Type
	case existing != nil && spec.Type != existing.Type:
		v.add("type", "The type of an inline hook cannot be changed")
	case spec.Type == "":
		v.add("type", "The field cannot be left blank")
	case !slices.Contains(hookTypes, spec.Type):
		v.add("type", "Invalid inline hook type: %s", spec.Type)
	}
	if spec.Version != hookVersion {
		v.add("version", "The only supported version is %s", hookVersion)
	}
	o.validateChannelLocked(v, &spec.Channel)
	return v.err()
}

func (o *org) validateChannelLocked(v *validation, c *Channel) {
	if c.Version != hookVersion {
		v.add("channel.version", "The only supported version is %s", hookVersion)
	}
	validateHookURI(v, "channel.config.uri", c.URI)
	if c.Method == "" {
		c.Method = http.MethodPost
	} else if c.Method != http.MethodPost {
		v.add("channel.config.method", "Only POST is supported")
	}
	for i, h := range c.Headers {
		switch {
		case !isToken(h.Key):
			v.add("channel.config.headers", "Header %d has an invalid name", i)
		case slices.Contains(reservedHookHeaders, strings.ToLower(h.Key)):
			v.add("channel.config.headers", "Header %s is reserved", h.Key)
		case h.Value == "":
			v.add("channel.config.headers", "Header %s has no value", h.Key)
		}
	}
	switch c.Type {
	case channelHTTP:
		if c.OAuth != nil {
			v.add("channel.config", "OAuth settings need channel type OAUTH")
		}
		if a := c.AuthScheme; a != nil {
			if !strings.EqualFold(a.Type, "HEADER") {
				v.add("channel.config.authScheme.type", "The only supported type is HEADER")
			}
			if !isToken(a.Key) {
				v.add("channel.config.authScheme.key", "The field must be a header name")
			} else if slices.Contains(reservedHookHeaders, strings.ToLower(a.Key)) {
				v.add("channel.config.authScheme.key", "Header %s is reserved", a.Key)
			}
			// Write-only: a replace that leaves it out would lose the secret, so both create and
			// replace must send it.
			if a.Value == "" {
				v.add("channel.config.authScheme.value", "The field cannot be left blank")
			}
		}
	case channelOAuth:
		// InlineHookOAuthClientSecretConfig and InlineHookOAuthPrivateKeyJwtConfig: authScheme
		// "Not applicable. Must be `null`."; clientId, tokenUrl and scope from
		// InlineHookOAuthBasicConfig; clientSecret or hookKeyId by authType.
		if c.AuthScheme != nil {
			v.add("channel.config.authScheme", "The field must be null for channel type OAUTH")
		}
		for _, h := range c.Headers {
			if strings.EqualFold(h.Key, "Authorization") {
				v.add("channel.config.headers", "Header %s is reserved for channel type OAUTH, which sends the access token in it", h.Key)
			}
		}
		oc := c.OAuth
		if oc == nil {
			oc = &OAuthChannel{} // so each missing field is named
		}
		validateHookURI(v, "channel.config.tokenUrl", oc.TokenURL)
		if strings.TrimSpace(oc.ClientID) == "" {
			v.add("channel.config.clientId", "The field cannot be left blank")
		}
		if strings.IndexFunc(oc.Scope, unicode.IsControl) >= 0 {
			v.add("channel.config.scope", "The field must be a space-separated list of scopes")
		}
		switch oc.AuthType {
		case OAuthClientSecretPost:
			if oc.ClientSecret == "" {
				v.add("channel.config.clientSecret", "The field cannot be left blank")
			}
			if oc.HookKeyID != "" {
				v.add("channel.config.hookKeyId", "Not applicable for authType %s", OAuthClientSecretPost)
			}
		case OAuthPrivateKeyJWT:
			switch {
			case oc.HookKeyID == "":
				v.add("channel.config.hookKeyId", "The field cannot be left blank")
			case o.hookKeyLocked(oc.HookKeyID) == nil:
				v.add("channel.config.hookKeyId", "Hook key %s does not exist", oc.HookKeyID)
			}
			if oc.ClientSecret != "" {
				v.add("channel.config.clientSecret", "Not applicable for authType %s", OAuthPrivateKeyJWT)
			}
		case "":
			v.add("channel.config.authType", "The field cannot be left blank")
		default:
			v.add("channel.config.authType", "Must be %s or %s", OAuthClientSecretPost, OAuthPrivateKeyJWT)
		}
	case "":
		v.add("channel.type", "The field cannot be left blank")
	default:
		v.add("channel.type", "Must be HTTP or OAUTH")
	}
}

func validateHookURI(v *validation, field, uri string) {
	u, err := url.Parse(uri)
	switch {
	case uri == "":
		v.add(field, "The field cannot be left blank")
	case len(uri) > 1024:
		v.add(field, "The field cannot exceed 1024 characters")
	case strings.IndexFunc(uri, unicode.IsSpace) >= 0:
		v.add(field, "The URI must not contain whitespace")
	case err != nil || u.Host == "":
		v.add(field, "The URI is not valid")
	case u.Scheme != "https":
		v.add(field, "The URI must use HTTPS")
	}
}

// tokenPunct are the punctuation characters allowed in an HTTP header name (RFC 9110 token).
const tokenPunct = "!#$%&'*+-.^_`|~"

// isToken reports whether s is a valid HTTP header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII {
			return false
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(tokenPunct, r) {
			return false
		}
	}
	return true
}

func validateStatus(v *validation, status string) {
	if status != "" && status != StatusActive && status != StatusInactive {
		v.add("status", "Must be ACTIVE or INACTIVE")
	}
}

func validatePolicy(spec *PolicySpec) *Error {
	v := &validation{}
	switch {
	case strings.TrimSpace(spec.Name) == "":
		v.add("name", "The field cannot be left blank")
	case len(spec.Name) > 100:
		v.add("name", "The field cannot exceed 100 characters")
	}
	switch {
	case strings.TrimSpace(spec.Description) == "":
		v.add("description", "The field cannot be left blank")
	case len(spec.Description) > 255:
		v.add("description", "The field cannot exceed 255 characters")
	}
	if len(spec.Clients) == 0 {
		v.add("conditions.clients.include", "The field cannot be left blank")
	}
	if spec.Priority < 0 {
		v.add("priority", "Must be a positive number")
	}
	// A replace keeps the stored status, but the value must still be one of the enum's.
	validateStatus(v, spec.Status)
	return v.err()
}

// grantTypes is the management API's GrantType enum.
var grantTypes = []string{
	"authorization_code", "client_credentials", "implicit", "interaction_code", "password", "refresh_token",
	"urn:ietf:params:oauth:grant-type:device_code",
	"urn:ietf:params:oauth:grant-type:jwt-bearer",
	"urn:ietf:params:oauth:grant-type:saml2-bearer",
	"urn:ietf:params:oauth:grant-type:token-exchange",
	"urn:openid:params:grant-type:ciba",
	"urn:okta:params:oauth:grant-type:otp",
	"urn:okta:params:oauth:grant-type:oob",
	"http://auth0.com/oauth/grant-type/mfa-otp",
	"http://auth0.com/oauth/grant-type/mfa-oob",
}

// Bounds of a rule's token lifetimes (TokenAuthorizationServerPolicyRuleAction): access "The
// minimum is five minutes. The maximum is one day."; window "The minimum is 10 minutes. The
// maximum is five years (2,628,000 minutes)."
const (
	minAccessLifetimeMinutes = 5
	maxAccessLifetimeMinutes = 1440
	minRefreshWindowMinutes  = 10
	maxRefreshWindowMinutes  = 2628000
)

func applyLifetimeDefaults(t *TokenActions) {
	if t.AccessTokenLifetimeMinutes == 0 {
		t.AccessTokenLifetimeMinutes = DefaultAccessTokenLifetimeMinutes
	}
	if t.RefreshTokenWindowMinutes == 0 {
		t.RefreshTokenWindowMinutes = DefaultRefreshTokenWindowMinutes
	}
}

// validateRuleLocked checks a rule create or full replace. Lifetimes must already have their
// defaults: the HTTP API fills them for null fields, the Go API for zero ones.
func (o *org) validateRuleLocked(spec *RuleSpec) *Error {
	v := &validation{}
	switch {
	case strings.TrimSpace(spec.Name) == "":
		v.add("name", "The field cannot be left blank")
	case len(spec.Name) > 255:
		v.add("name", "The field cannot exceed 255 characters")
	}
	if spec.Priority < 0 {
		v.add("priority", "Must be a positive number")
	}
	// A replace keeps the stored status, but the value must still be one of the enum's.
	validateStatus(v, spec.Status)
	c := spec.Conditions
	if len(c.GrantTypes) == 0 {
		v.add("conditions.grantTypes.include", "The field cannot be left blank")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(grantTypes, g) {
			v.add("conditions.grantTypes.include", "Invalid grant type: %s", g)
		}
	}
	if len(c.Scopes) == 0 {
		v.add("conditions.scopes.include", "The field cannot be left blank")
	}
	if len(c.Users.Include) == 0 && len(c.Groups.Include) == 0 {
		v.add("conditions.people", "Include at least one user or group")
	}

	t := spec.Token
	if t.AccessTokenLifetimeMinutes < minAccessLifetimeMinutes || t.AccessTokenLifetimeMinutes > maxAccessLifetimeMinutes {
		v.add("actions.token.accessTokenLifetimeMinutes", "Must be between %d and %d", minAccessLifetimeMinutes, maxAccessLifetimeMinutes)
	}
	if t.RefreshTokenLifetimeMinutes != 0 && t.RefreshTokenLifetimeMinutes < t.AccessTokenLifetimeMinutes {
		v.add("actions.token.refreshTokenLifetimeMinutes", "Must be 0 (unlimited) or at least the access token lifetime")
	}
	if t.RefreshTokenWindowMinutes < minRefreshWindowMinutes || t.RefreshTokenWindowMinutes > maxRefreshWindowMinutes ||
		(t.RefreshTokenLifetimeMinutes != 0 && t.RefreshTokenWindowMinutes > t.RefreshTokenLifetimeMinutes) {
		v.add("actions.token.refreshTokenWindowMinutes", "Must be between %d and %d and at most the refresh token lifetime",
			minRefreshWindowMinutes, maxRefreshWindowMinutes)
	}
	if t.InlineHookID != "" {
		h := o.hookLocked(t.InlineHookID)
		switch {
		case h == nil:
			v.add("actions.token.inlineHook.id", "Inline hook %s does not exist", t.InlineHookID)
		case h.Type != HookTypeToken:
			v.add("actions.token.inlineHook.id", "Inline hook %s is not of type %s", t.InlineHookID, HookTypeToken)
		}
	}
	return v.err()
}

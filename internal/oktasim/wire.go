package oktasim

import (
	"encoding/json"
	"net/http"
	"time"
)

// Wire types: what the HTTP API reads (…In, pointers where absent and null differ from a zero
// value) and writes (…Out). The …Out types have no secret fields, so no response can carry one.

const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

type link struct {
	Href  string     `json:"href"`
	Hints *linkHints `json:"hints,omitempty"`
}

type linkHints struct {
	Allow []string `json:"allow"`
}

func postLink(href string) link {
	return link{Href: href, Hints: &linkHints{Allow: []string{http.MethodPost}}}
}

// ---- inline hooks

type hookIn struct {
	Name    string     `json:"name"`
	Type    string     `json:"type"`
	Version string     `json:"version"`
	Channel *channelIn `json:"channel"`
}

type channelIn struct {
	Type    string           `json:"type"`
	Version string           `json:"version"`
	Config  *channelConfigIn `json:"config"`
}

type channelConfigIn struct {
	URI        string       `json:"uri"`
	Method     string       `json:"method"`
	Headers    []headerJSON `json:"headers"`
	AuthScheme *struct {
		Type  string `json:"type"`
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"authScheme"`
	AuthType     string `json:"authType"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	TokenURL     string `json:"tokenUrl"`
	Scope        string `json:"scope"`
	HookKeyID    string `json:"hookKeyId"`
}

type headerJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (in hookIn) spec() HookSpec {
	s := HookSpec{Name: in.Name, Type: in.Type, Version: in.Version}
	if in.Channel == nil {
		return s
	}
	s.Channel.Type, s.Channel.Version = in.Channel.Type, in.Channel.Version
	cfg := in.Channel.Config
	if cfg == nil {
		return s
	}
	s.Channel.URI, s.Channel.Method = cfg.URI, cfg.Method
	for _, h := range cfg.Headers {
		s.Channel.Headers = append(s.Channel.Headers, Header(h))
	}
	if a := cfg.AuthScheme; a != nil {
		s.Channel.AuthScheme = &AuthScheme{Type: a.Type, Key: a.Key, Value: a.Value}
	}
	if cfg.AuthType != "" || cfg.ClientID != "" || cfg.ClientSecret != "" || cfg.TokenURL != "" || cfg.Scope != "" || cfg.HookKeyID != "" {
		s.Channel.OAuth = &OAuthChannel{AuthType: cfg.AuthType, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			TokenURL: cfg.TokenURL, Scope: cfg.Scope, HookKeyID: cfg.HookKeyID}
	}
	return s
}

type hookOut struct {
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Version     string          `json:"version"`
	Channel     channelOut      `json:"channel"`
	Created     string          `json:"created"`
	LastUpdated string          `json:"lastUpdated"`
	Links       map[string]link `json:"_links"`
}

type channelOut struct {
	Type    string           `json:"type"`
	Version string           `json:"version"`
	Config  channelConfigOut `json:"config"`
}

// channelConfigOut: an OAUTH channel answers authScheme null, clientId, tokenUrl, authType,
// scope (null when not set) and hookKeyId (private_key_jwt only) as the spec's examples do,
// never clientSecret; an HTTP channel none of them.
type channelConfigOut struct {
	URI        string          `json:"uri"`
	Method     string          `json:"method"`
	Headers    []headerJSON    `json:"headers"`
	AuthScheme *authSchemeOut  `json:"authScheme"`
	ClientID   string          `json:"clientId,omitempty"`
	TokenURL   string          `json:"tokenUrl,omitempty"`
	AuthType   string          `json:"authType,omitempty"`
	Scope      json.RawMessage `json:"scope,omitempty"` // absent, null or a JSON string
	HookKeyID  string          `json:"hookKeyId,omitempty"`
}

// authSchemeOut has no value: it is write-only.
type authSchemeOut struct {
	Type string `json:"type"`
	Key  string `json:"key"`
}

// renderHook renders a hook with the links that work on it: delete only when no rule uses it.
func renderHook(base string, h Hook, inUse bool) hookOut {
	self := base + "/api/v1/inlineHooks/" + h.ID
	out := hookOut{
		ID: h.ID, Status: h.Status, Name: h.Name, Type: h.Type, Version: h.Version,
		Channel: channelOut{Type: h.Channel.Type, Version: h.Channel.Version, Config: channelConfigOut{
			URI: h.Channel.URI, Method: h.Channel.Method, Headers: []headerJSON{},
		}},
		Created: formatTime(h.Created), LastUpdated: formatTime(h.LastUpdated),
		Links: map[string]link{"self": {Href: self}},
	}
	for _, hd := range h.Channel.Headers {
		out.Channel.Config.Headers = append(out.Channel.Config.Headers, headerJSON(hd))
	}
	if a := h.Channel.AuthScheme; a != nil {
		out.Channel.Config.AuthScheme = &authSchemeOut{Type: a.Type, Key: a.Key}
	}
	if o := h.Channel.OAuth; o != nil && h.Channel.Type == channelOAuth {
		c := &out.Channel.Config
		c.ClientID, c.TokenURL, c.AuthType, c.HookKeyID = o.ClientID, o.TokenURL, o.AuthType, o.HookKeyID
		c.Scope = json.RawMessage("null")
		if o.Scope != "" {
			c.Scope = marshal(o.Scope)
		}
	}
	if h.Status == StatusActive {
		out.Links["execute"] = postLink(self + "/execute")
		out.Links["deactivate"] = postLink(self + "/lifecycle/deactivate")
	} else {
		out.Links["activate"] = postLink(self + "/lifecycle/activate")
		if !inUse {
			out.Links["delete"] = link{Href: self, Hints: &linkHints{Allow: []string{http.MethodDelete}}}
		}
	}
	return out
}

// ---- authorization servers

type authServerOut struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Audiences   []string `json:"audiences"`
	Issuer      string   `json:"issuer"`
	IssuerMode  string   `json:"issuerMode"`
	Status      string   `json:"status"`
	Created     string   `json:"created"`
	LastUpdated string   `json:"lastUpdated"`
	Credentials struct {
		Signing signingCredentials `json:"signing"`
	} `json:"credentials"`
	Links map[string]link `json:"_links"`
}

func renderAuthServer(base string, s AuthServer, signing signingCredentials) authServerOut {
	self := base + "/api/v1/authorizationServers/" + s.ID
	out := authServerOut{
		ID: s.ID, Name: s.Name, Description: s.Description, Audiences: nonNil(s.Audiences),
		Issuer: base + "/oauth2/" + s.ID, IssuerMode: "ORG_URL", Status: s.Status,
		Created: formatTime(s.Created), LastUpdated: formatTime(s.LastUpdated),
		Links: map[string]link{"self": {Href: self}, "policies": {Href: self + "/policies"}},
	}
	out.Credentials.Signing = signing
	return out
}

// ---- policies

type policyIn struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Priority    *int   `json:"priority"`
	Conditions  *struct {
		Clients *includeJSON `json:"clients"`
	} `json:"conditions"`
}

type includeJSON struct {
	Include []string `json:"include"`
}

func (in policyIn) spec() (PolicySpec, *Error) {
	v := &validation{}
	if in.Type != "" && in.Type != policyType {
		v.add("type", "Must be %s", policyType)
	}
	s := PolicySpec{Name: in.Name, Description: in.Description, Status: in.Status, Priority: deref(in.Priority)}
	if in.Conditions != nil && in.Conditions.Clients != nil {
		s.Clients = in.Conditions.Clients.Include
	}
	return s, v.err()
}

type policyOut struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Priority    int             `json:"priority"`
	System      bool            `json:"system"`
	Conditions  policyCondsOut  `json:"conditions"`
	Created     string          `json:"created"`
	LastUpdated string          `json:"lastUpdated"`
	Links       map[string]link `json:"_links"`
}

type policyCondsOut struct {
	Clients includeJSON `json:"clients"`
}

func renderPolicy(base string, p Policy) policyOut {
	self := base + "/api/v1/authorizationServers/" + p.AuthServerID + "/policies/" + p.ID
	out := policyOut{
		Type: policyType, ID: p.ID, Status: p.Status, Name: p.Name, Description: p.Description,
		Priority: p.Priority, System: p.System, Conditions: policyCondsOut{Clients: includeJSON{Include: nonNil(p.Clients)}},
		Created: formatTime(p.Created), LastUpdated: formatTime(p.LastUpdated),
		Links: map[string]link{"self": {Href: self}, "rules": {Href: self + "/rules"}},
	}
	addLifecycleLinks(out.Links, self, p.Status)
	return out
}

func addLifecycleLinks(links map[string]link, self, status string) {
	if status == StatusActive {
		links["deactivate"] = postLink(self + "/lifecycle/deactivate")
	} else {
		links["activate"] = postLink(self + "/lifecycle/activate")
	}
}

// ---- rules

type ruleIn struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Status     string `json:"status"`
	Priority   *int   `json:"priority"`
	Conditions *struct {
		People *struct {
			Users  *incExcJSON `json:"users"`
			Groups *incExcJSON `json:"groups"`
		} `json:"people"`
		GrantTypes *includeJSON `json:"grantTypes"`
		Scopes     *includeJSON `json:"scopes"`
	} `json:"conditions"`
	Actions *struct {
		Token *struct {
			// Pointers: SDK v2 sends null for unset lifetimes, which means the default.
			AccessTokenLifetimeMinutes  *int `json:"accessTokenLifetimeMinutes"`
			RefreshTokenLifetimeMinutes *int `json:"refreshTokenLifetimeMinutes"`
			RefreshTokenWindowMinutes   *int `json:"refreshTokenWindowMinutes"`
			InlineHook                  *struct {
				ID string `json:"id"`
			} `json:"inlineHook"`
		} `json:"token"`
	} `json:"actions"`
}

type incExcJSON struct {
	Include []string `json:"include"`
	Exclude []string `json:"exclude"`
}

// spec converts a rule body, applying defaults for null or absent lifetimes. An explicit value
// is kept as sent, so an invalid one (0 minutes) still fails validation. type is required, on
// create and replace alike (AuthorizationServerPolicyRuleRequest).
func (in ruleIn) spec() (RuleSpec, *Error) {
	v := &validation{}
	switch in.Type {
	case ruleType:
	case "":
		v.add("type", "The field cannot be left blank")
	default:
		v.add("type", "Must be %s", ruleType)
	}
	s := RuleSpec{Name: in.Name, Status: in.Status, Priority: deref(in.Priority)}
	if in.Conditions == nil {
		v.add("conditions", "The field cannot be left blank")
	} else {
		c := in.Conditions
		if c.People != nil {
			if c.People.Users != nil {
				s.Conditions.Users = IncludeExclude(*c.People.Users)
			}
			if c.People.Groups != nil {
				s.Conditions.Groups = IncludeExclude(*c.People.Groups)
			}
		}
		if c.GrantTypes != nil {
			s.Conditions.GrantTypes = c.GrantTypes.Include
		}
		if c.Scopes != nil {
			s.Conditions.Scopes = c.Scopes.Include
		}
	}
	s.Token = TokenActions{
		AccessTokenLifetimeMinutes:  DefaultAccessTokenLifetimeMinutes,
		RefreshTokenLifetimeMinutes: DefaultRefreshTokenLifetimeMinutes,
		RefreshTokenWindowMinutes:   DefaultRefreshTokenWindowMinutes,
	}
	if in.Actions != nil && in.Actions.Token != nil {
		t := in.Actions.Token
		if t.AccessTokenLifetimeMinutes != nil {
			s.Token.AccessTokenLifetimeMinutes = *t.AccessTokenLifetimeMinutes
		}
		if t.RefreshTokenLifetimeMinutes != nil {
			s.Token.RefreshTokenLifetimeMinutes = *t.RefreshTokenLifetimeMinutes
		}
		if t.RefreshTokenWindowMinutes != nil {
			s.Token.RefreshTokenWindowMinutes = *t.RefreshTokenWindowMinutes
		}
		// Absent, null and {} all mean no hook.
		if t.InlineHook != nil {
			s.Token.InlineHookID = t.InlineHook.ID
		}
	}
	return s, v.err()
}

type ruleOut struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	Name        string          `json:"name"`
	Priority    int             `json:"priority"`
	System      bool            `json:"system"`
	Created     string          `json:"created"`
	LastUpdated string          `json:"lastUpdated"`
	Conditions  ruleCondsOut    `json:"conditions"`
	Actions     ruleActionsOut  `json:"actions"`
	Links       map[string]link `json:"_links"`
}

type ruleCondsOut struct {
	People struct {
		Users  incExcJSON `json:"users"`
		Groups incExcJSON `json:"groups"`
	} `json:"people"`
	GrantTypes includeJSON `json:"grantTypes"`
	Scopes     includeJSON `json:"scopes"`
}

type ruleActionsOut struct {
	Token struct {
		AccessTokenLifetimeMinutes  int         `json:"accessTokenLifetimeMinutes"`
		RefreshTokenLifetimeMinutes int         `json:"refreshTokenLifetimeMinutes"`
		RefreshTokenWindowMinutes   int         `json:"refreshTokenWindowMinutes"`
		InlineHook                  *hookRefOut `json:"inlineHook,omitempty"`
	} `json:"token"`
}

type hookRefOut struct {
	ID string `json:"id"`
}

func renderRule(base string, r Rule) ruleOut {
	self := base + "/api/v1/authorizationServers/" + r.AuthServerID + "/policies/" + r.PolicyID + "/rules/" + r.ID
	out := ruleOut{
		Type: r.Type, ID: r.ID, Status: r.Status, Name: r.Name, Priority: r.Priority, System: r.System,
		Created: formatTime(r.Created), LastUpdated: formatTime(r.LastUpdated),
		Links: map[string]link{"self": {Href: self}},
	}
	c := r.Conditions
	out.Conditions.People.Users = incExcJSON{Include: nonNil(c.Users.Include), Exclude: nonNil(c.Users.Exclude)}
	out.Conditions.People.Groups = incExcJSON{Include: nonNil(c.Groups.Include), Exclude: nonNil(c.Groups.Exclude)}
	out.Conditions.GrantTypes = includeJSON{Include: nonNil(c.GrantTypes)}
	out.Conditions.Scopes = includeJSON{Include: nonNil(c.Scopes)}
	t := &out.Actions.Token
	t.AccessTokenLifetimeMinutes = r.Token.AccessTokenLifetimeMinutes
	t.RefreshTokenLifetimeMinutes = r.Token.RefreshTokenLifetimeMinutes
	t.RefreshTokenWindowMinutes = r.Token.RefreshTokenWindowMinutes
	if r.Token.InlineHookID != "" {
		t.InlineHook = &hookRefOut{ID: r.Token.InlineHookID}
	}
	addLifecycleLinks(out.Links, self, r.Status)
	return out
}

// ---- helpers

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// errorBody is Okta's error response.
type errorBody struct {
	ErrorCode    string       `json:"errorCode"`
	ErrorSummary string       `json:"errorSummary"`
	ErrorLink    string       `json:"errorLink"`
	ErrorID      string       `json:"errorId"`
	ErrorCauses  []errorCause `json:"errorCauses"`
}

type errorCause struct {
	ErrorSummary string `json:"errorSummary"`
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own wire types are marshalled
	}
	return b
}

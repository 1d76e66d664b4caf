package oktasim

import "encoding/json"

// The token inline hook's wire types, both ways: the event Okta POSTs (eventType
// com.okta.oauth2.tokens.transform) and the answer it reads back. They are written from Okta's
// documentation (SPEC 1.2 to 1.5 and 2.2; the management OpenAPI's TokenPayLoad, BaseContext,
// BaseToken and TokenHookResponse; the token inline hook reference), not shared with the hook
// server's hookserver/protocol: if those types misread Okta, the simulator must not agree.
// contract_hook_test.go runs Okta's documented examples through both.

// Command types of a hook's answer: one per token a command patches.
const (
	commandIdentityPatch = "com.okta.identity.patch"
	commandAccessPatch   = "com.okta.access.patch"
)

// JSON Patch operations Okta accepts in a command.
const (
	opAdd     = "add"
	opReplace = "replace"
	opRemove  = "remove"
)

// hookEvent is the body of a token inline hook call (InlineHookBasePayload and TokenPayLoad).
type hookEvent struct {
	Source            string    `json:"source"`
	EventID           string    `json:"eventId"`
	EventTime         string    `json:"eventTime"`
	EventTypeVersion  string    `json:"eventTypeVersion"`
	CloudEventVersion string    `json:"cloudEventVersion"`
	ContentType       string    `json:"contentType"`
	EventType         string    `json:"eventType"`
	Data              eventData `json:"data"`
}

// eventData holds the context and the tokens being minted. A token Okta does not mint is
// absent, and so is refresh_token when no refresh token is issued or used.
type eventData struct {
	Context      eventContext       `json:"context"`
	Identity     *eventToken        `json:"identity,omitempty"`
	Access       *eventToken        `json:"access,omitempty"`
	RefreshToken *eventRefreshToken `json:"refresh_token,omitempty"`
}

// eventContext is data.context. User and Session are absent without an end user.
type eventContext struct {
	Request  *eventRequest  `json:"request,omitempty"`
	Protocol *eventProtocol `json:"protocol,omitempty"`
	Session  *eventSession  `json:"session,omitempty"`
	User     *eventUser     `json:"user,omitempty"`
	Policy   *eventPolicy   `json:"policy,omitempty"`
}

// eventRequest is the HTTP request to Okta that triggered the hook (InlineHookRequestObject).
type eventRequest struct {
	ID        string   `json:"id"`
	Method    string   `json:"method"`
	URL       eventURL `json:"url"`
	IPAddress string   `json:"ipAddress"`
}

type eventURL struct {
	Value string `json:"value"`
}

// eventProtocol is data.context.protocol. OriginalGrant, spelled so in Okta's OpenAPI, is set
// on refresh token grants only.
type eventProtocol struct {
	Type          string               `json:"type"`
	Request       eventProtocolRequest `json:"request"`
	OriginalGrant *eventOriginalGrant  `json:"OriginalGrant,omitempty"`
	Issuer        eventIssuer          `json:"issuer"`
	Client        eventClient          `json:"client"`
}

// eventProtocolRequest is Okta's TokenProtocolRequest: the OAuth request's parameters, each
// absent when the request had none.
type eventProtocolRequest struct {
	ClientID     string `json:"client_id,omitempty"`
	GrantType    string `json:"grant_type,omitempty"`
	RedirectURI  string `json:"redirect_uri,omitempty"`
	ResponseMode string `json:"response_mode,omitempty"`
	ResponseType string `json:"response_type,omitempty"`
	Scope        string `json:"scope,omitempty"`
	State        string `json:"state,omitempty"`
}

// eventOriginalGrant is the token request that got the refresh token now being used.
type eventOriginalGrant struct {
	Authorization eventProtocolRequest `json:"authorization"`
	RefreshToken  eventRefreshToken    `json:"refresh_token"`
}

type eventIssuer struct {
	URI string `json:"uri"`
}

type eventClient struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type eventSession struct {
	ID                       string   `json:"id"`
	UserID                   string   `json:"userId"`
	Login                    string   `json:"login"`
	CreatedAt                string   `json:"createdAt"`
	ExpiresAt                string   `json:"expiresAt"`
	Status                   string   `json:"status"`
	LastPasswordVerification string   `json:"lastPasswordVerification"`
	AMR                      []string `json:"amr"`
	IDP                      eventIDP `json:"idp"`
	MFAActive                bool     `json:"mfaActive"`
}

type eventIDP struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type eventUser struct {
	ID              string               `json:"id"`
	PasswordChanged string               `json:"passwordChanged"`
	Profile         eventUserProfile     `json:"profile"`
	Links           map[string]eventHref `json:"_links"`
}

type eventUserProfile struct {
	Login     string `json:"login"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Locale    string `json:"locale"`
	TimeZone  string `json:"timeZone"`
}

type eventHref struct {
	Href string `json:"href"`
}

type eventPolicy struct {
	ID   string   `json:"id"`
	Rule eventRef `json:"rule"`
}

type eventRef struct {
	ID string `json:"id"`
}

// eventToken is a token before signing (BaseToken); scopes are on the access token only.
type eventToken struct {
	Claims map[string]any        `json:"claims"`
	Token  eventTokenInfo        `json:"token"`
	Scopes map[string]eventScope `json:"scopes,omitempty"`
}

type eventTokenInfo struct {
	Lifetime eventLifetime `json:"lifetime"`
}

// eventLifetime is in seconds.
type eventLifetime struct {
	Expiration int64 `json:"expiration"`
}

type eventScope struct {
	ID     string `json:"id"`
	Action string `json:"action"`
}

type eventRefreshToken struct {
	JTI string `json:"jti"`
}

// hookResponse is a hook's 200 answer (TokenHookResponse): commands that patch the tokens, or
// an error that makes Okta refuse them all. debugContext is the generic inline hook field Okta
// writes to its System Log; whether token hooks honour it is unconfirmed, so the simulator only
// records it (HookCall.DebugContext).
type hookResponse struct {
	Commands     []hookCommand    `json:"commands"`
	Error        *hookErrorObject `json:"error"`
	DebugContext json.RawMessage  `json:"debugContext"`
}

// hookCommand patches one token: Type is commandIdentityPatch or commandAccessPatch.
type hookCommand struct {
	Type  string           `json:"type"`
	Value []patchOperation `json:"value"`
}

// patchOperation is one JSON Patch operation. Value holds any JSON value (decoded with
// UseNumber); for remove it must be absent or null, which both decode to nil.
type patchOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// hookErrorObject is the error object: Okta answers the token request with server_error and
// errorSummary as the error_description. errorCauses is the generic inline hook shape; token
// hooks document errorSummary alone, and Okta shows only that.
type hookErrorObject struct {
	ErrorSummary string `json:"errorSummary"`
}

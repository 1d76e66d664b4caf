package oktasim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Token minting by custom authorization servers (/oauth2/{authServerId}/v1/token), the way
// Okta does it (SPEC 1 to 3 and 5.3): authenticate the client and the user, pick the policy
// rule, build the tokens, run the rule's ACTIVE token inline hook and apply what it answers,
// then sign. The org authorization server (/oauth2/v1/token, oauth.go) never runs hooks.

// DefaultHookTimeout is how long Okta waits for a token inline hook (SPEC 2.1).
const DefaultHookTimeout = 3 * time.Second

// idTokenLifetime is the lifetime of Okta's ID tokens: one hour, not configurable.
const idTokenLifetime = 3600

// mintGrantTypes are the grants the token endpoint implements.
var mintGrantTypes = []string{GrantAuthorizationCode, GrantPassword, GrantClientCredentials, GrantRefreshToken}

type mintState struct {
	dir         *directory
	keys        *keyRing
	ids         *idSource
	idpID       string // the org's Okta identity provider, in sessions and ID tokens
	everyoneID  string // the built-in Everyone group
	hookClient  *http.Client
	hookTimeout time.Duration
	hookCalls   hookCallLog
	flows       *flows
	tokens      *tokenState
	assertions  jtiSet         // client assertions used at the custom authorization servers
	hookTokens  hookTokenCache // access tokens of OAUTH channels
}

func newMintState(opts Options, now func() time.Time) *mintState {
	ids := newIDSource(opts.Seed, "mint")
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if opts.HookClient != nil {
		c := *opts.HookClient
		client = &c
	}
	// Okta never follows a hook's redirect (SPEC 2.1): a 3xx is a non-200 answer.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	timeout := opts.HookTimeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	return &mintState{
		dir:         &directory{jwkIDs: newIDSource(opts.Seed, "app-jwks")},
		keys:        &keyRing{keys: map[string]*signingKey{}, now: now},
		ids:         ids,
		idpID:       ids.id(prefixIdP),
		everyoneID:  newIDSource(opts.Seed, "everyone").id(prefixGroup), // its own stream: other IDs stay as they were
		hookClient:  client,
		hookTimeout: timeout,
		flows:       newFlows(),
		tokens:      newTokenState(),
	}
}

// Okta's OAuth error descriptions: the examples of Okta's OAuth OpenAPI where it has one;
// elsewhere a guess in Okta's style. The error codes follow RFC 6749 5.2.
const (
	descInvalidClient     = "Client authentication failed. Either the client or the client credentials are invalid."
	descNoClientID        = "No client credentials found"
	descMultipleCreds     = "Can't supply multiple client credentials. Use one of the following: credentials in the Authorization header, credentials in the post body, or a `client_assertion` in the post body."
	descBadCredentials    = "The credentials provided were invalid."
	descUnsupportedGrant  = "The authorization grant type is not supported by the authorization server."
	descNoScope           = "The authorization server resource does not have any configured default scopes, 'scope' must be provided."
	descUndefinedScope    = "One or more scopes are not configured for the authorization server resource."
	descPolicyFailed      = "Policy evaluation failed for this request, please check the policy configurations."
	descHookErrorFallback = "The callback service returned an error"
)

// tokenRequest is a token request that passed client authentication and parameter checks.
type tokenRequest struct {
	authServer AuthServer
	issuer     string
	client     ClientSpec
	grant      string
	scopes     []string
	user       *User // nil for client_credentials
	groupIDs   []string
	requestID  string // the X-Okta-Request-Id answered, context.request.id of the event

	// With a user: the Okta session that authenticated them.
	session session
	// refresh is the refresh token redeemed by a refresh_token grant.
	refresh *refreshGrant
	// From the authorization request of an authorization code.
	nonce        string
	redirectURI  string
	state        string
	responseType string
	responseMode string
}

// session is a user's Okta session: made by POST /api/v1/authn (authorization code flow) or by
// the password grant itself.
type session struct {
	id      string
	created time.Time
}

// token serves POST /oauth2/{authServerId}/v1/token.
func (s *Sim) token(w http.ResponseWriter, r *http.Request, p params) {
	as, apiErr := s.org.AuthServer(p["authServerId"])
	if apiErr != nil {
		s.writeError(w, apiErr)
		return
	}
	req, oerr := s.parseTokenRequest(r, as)
	if oerr != nil {
		s.writeOAuthError(w, oerr)
		return
	}
	req.requestID = w.Header().Get("X-Okta-Request-Id") // set by ServeHTTP
	policy, rule, ok := s.org.evaluate(req)
	if !ok {
		s.writeOAuthError(w, &oauthError{http.StatusBadRequest, "access_denied", descPolicyFailed})
		return
	}
	resp, oerr, err := s.mintTokens(r, req, policy, rule)
	switch {
	case err != nil:
		s.serverError(w, err)
	case oerr != nil:
		s.writeOAuthError(w, oerr)
	default:
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		s.writeJSON(w, http.StatusOK, resp)
	}
}

func (s *Sim) parseTokenRequest(r *http.Request, as AuthServer) (*tokenRequest, *oauthError) {
	if err := r.ParseForm(); err != nil {
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "The request is malformed."}
	}
	grant := r.Form.Get("grant_type")
	if grant == "" {
		return nil, &oauthError{http.StatusBadRequest, "invalid_request", "The 'grant_type' parameter is required."}
	}
	client, oerr := s.authenticateClient(r)
	if oerr != nil {
		return nil, oerr
	}
	if !slices.Contains(mintGrantTypes, grant) {
		return nil, &oauthError{http.StatusBadRequest, "unsupported_grant_type", descUnsupportedGrant}
	}
	if !slices.Contains(client.GrantTypes, grant) {
		return nil, &oauthError{http.StatusBadRequest, "unauthorized_client",
			"The client is not authorized to use the provided grant type. Configured grant types: [" + strings.Join(client.GrantTypes, ", ") + "]."}
	}
	req := &tokenRequest{authServer: as, issuer: issuer(r, as.ID), client: client, grant: grant,
		scopes: uniqueFields(r.Form.Get("scope"))}
	if len(req.scopes) == 0 && grant != GrantAuthorizationCode && grant != GrantRefreshToken { // both carry their scopes
		return nil, &oauthError{http.StatusBadRequest, "invalid_scope", descNoScope}
	}
	if s.org.hasUndefinedScope(as.ID, req.scopes) {
		return nil, &oauthError{http.StatusBadRequest, "invalid_scope", descUndefinedScope}
	}
	switch grant {
	case GrantClientCredentials:
		for _, sc := range req.scopes {
			if slices.Contains(oidcScopes, sc) {
				return nil, &oauthError{http.StatusBadRequest, "invalid_scope", "Cannot request '" + sc + "' scopes using client credentials"}
			}
		}
	case GrantPassword:
		login, password := r.Form.Get("username"), r.Form.Get("password")
		if login == "" || password == "" {
			return nil, &oauthError{http.StatusBadRequest, "invalid_request", "The 'username' and 'password' parameters are required."}
		}
		u, ok := s.mint.dir.authenticate(login, password)
		if !ok {
			return nil, &oauthError{http.StatusBadRequest, "invalid_grant", descBadCredentials}
		}
		req.user = &u
		req.groupIDs = s.mint.dir.groupIDs(u.ID)
		req.session = s.mint.newSession(s.now())
	case GrantAuthorizationCode:
		if oerr := s.redeemCode(r, req); oerr != nil {
			return nil, oerr
		}
	case GrantRefreshToken:
		if oerr := s.redeemRefreshToken(r, req); oerr != nil {
			return nil, oerr
		}
	}
	return req, nil
}

// authenticateClient checks client_secret_basic, client_secret_post, a private_key_jwt client
// assertion, or a public client's client_id alone, for every endpoint that authenticates
// clients (token, introspect, revoke). A client whose TokenEndpointAuthMethod is set must use
// that method.
func (s *Sim) authenticateClient(r *http.Request) (ClientSpec, *oauthError) {
	id, secret, basic := r.BasicAuth()
	formSecret, assertion := r.Form.Get("client_secret"), r.Form.Get("client_assertion")
	if (basic && (formSecret != "" || assertion != "")) || (formSecret != "" && assertion != "") {
		return ClientSpec{}, &oauthError{http.StatusBadRequest, "invalid_request", descMultipleCreds}
	}
	if assertion != "" || r.Form.Get("client_assertion_type") != "" {
		return s.authenticateAssertion(r)
	}
	if basic {
		// RFC 6749 2.3.1: both are form-urlencoded inside the Basic credentials.
		if v, err := url.QueryUnescape(id); err == nil {
			id = v
		}
		if v, err := url.QueryUnescape(secret); err == nil {
			secret = v
		}
		if formID := r.Form.Get("client_id"); formID != "" && formID != id {
			return ClientSpec{}, &oauthError{http.StatusUnauthorized, "invalid_client", descInvalidClient}
		}
	} else {
		id, secret = r.Form.Get("client_id"), formSecret
	}
	if id == "" {
		return ClientSpec{}, &oauthError{http.StatusUnauthorized, "invalid_client", descNoClientID}
	}
	c, ok := s.mint.dir.client(id)
	invalid := &oauthError{http.StatusUnauthorized, "invalid_client", descInvalidClient}
	switch {
	case !ok:
		return ClientSpec{}, invalid
	case c.public():
		if secret != "" || basic {
			return ClientSpec{}, invalid
		}
	case c.TokenEndpointAuthMethod == ClientAuthPrivateKeyJWT,
		c.TokenEndpointAuthMethod == ClientAuthSecretBasic && !basic,
		c.TokenEndpointAuthMethod == ClientAuthSecretPost && basic:
		return ClientSpec{}, invalid
	case !c.secretMatches(secret):
		return ClientSpec{}, invalid
	}
	return c, nil
}

// evaluate finds the rule that mints the tokens: the ACTIVE policies in priority order whose
// clients include the client (or ALL_CLIENTS), and in each the first ACTIVE rule whose grant
// types, scopes and people match. A policy with no matching rule passes evaluation on to the
// next policy (Okta support article "tokens not issued with lifetime configured in access
// rule": "policy/rule evaluation will move onto the next Access Rule and/or Access Policy").
func (o *org) evaluate(req *tokenRequest) (Policy, Rule, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	srv, err := o.serverLocked(req.authServer.ID)
	if err != nil {
		return Policy{}, Rule{}, false
	}
	for _, p := range srv.policies {
		if p.Status != StatusActive {
			continue
		}
		if !slices.Contains(p.Clients, "ALL_CLIENTS") && !slices.Contains(p.Clients, req.client.ClientID) {
			continue
		}
		for _, r := range p.rules {
			if r.Status == StatusActive && ruleMatches(r, req) {
				return p.clone(), r.clone(), true
			}
		}
	}
	return Policy{}, Rule{}, false
}

func ruleMatches(r *Rule, req *tokenRequest) bool {
	c := r.Conditions
	if !slices.Contains(c.GrantTypes, req.grant) {
		return false
	}
	if !slices.Contains(c.Scopes, "*") {
		for _, sc := range req.scopes {
			if !slices.Contains(c.Scopes, sc) {
				return false
			}
		}
	}
	if req.user == nil {
		// No end user (client_credentials): the people condition does not apply (unconfirmed).
		return true
	}
	id := req.user.ID
	inAny := func(list []string) bool {
		return slices.ContainsFunc(req.groupIDs, func(g string) bool { return slices.Contains(list, g) })
	}
	if slices.Contains(c.Users.Exclude, id) || inAny(c.Groups.Exclude) {
		return false
	}
	return slices.Contains(c.Users.Include, id) || inAny(c.Groups.Include)
}

// tokenResponseBody is Okta's token endpoint answer.
type tokenResponseBody struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// mintTokens builds the tokens the rule allows, runs the rule's hook and signs the result. An
// *oauthError is the hook's veto; an error is the simulator's own failure.
func (s *Sim) mintTokens(r *http.Request, req *tokenRequest, policy Policy, rule Rule) (*tokenResponseBody, *oauthError, error) {
	now := s.now().UTC()
	audience := ""
	if len(req.authServer.Audiences) > 0 {
		audience = req.authServer.Audiences[0]
	}

	access := &draftToken{lifetime: int64(rule.Token.AccessTokenLifetimeMinutes) * 60, claims: map[string]any{
		"ver": 1,
		"jti": "AT." + s.mint.ids.random(43),
		"iss": req.issuer,
		"aud": audience,
		"cid": req.client.ClientID,
	}}
	var id *draftToken
	if u := req.user; u != nil {
		access.claims["uid"] = u.ID
		access.claims["sub"] = u.Login
		access.claims["auth_time"] = req.session.created.Unix()
		if slices.Contains(req.scopes, "openid") {
			id = &draftToken{lifetime: idTokenLifetime, claims: map[string]any{
				"sub":       u.ID,
				"ver":       1,
				"iss":       req.issuer,
				"aud":       req.client.ClientID,
				"jti":       "ID." + s.mint.ids.random(43),
				"amr":       []string{"pwd"},
				"idp":       s.mint.idpID,
				"auth_time": req.session.created.Unix(),
			}}
			if req.nonce != "" {
				id.claims["nonce"] = req.nonce
			}
			if slices.Contains(req.scopes, "profile") {
				id.claims["name"] = strings.TrimSpace(u.FirstName + " " + u.LastName)
				id.claims["preferred_username"] = u.Login
			}
			if slices.Contains(req.scopes, "email") {
				id.claims["email"] = u.Email
			}
		}
	} else {
		access.claims["sub"] = req.client.ClientID
	}
	access.claims = jsonClone(access.claims)
	if id != nil {
		id.claims = jsonClone(id.claims)
	}

	refresh := s.refreshFor(req, rule, now)
	if rule.Token.InlineHookID != "" {
		if veto := s.runHook(r, req, policy, rule, now, id, access, refresh); veto != nil {
			return nil, veto, nil
		}
	}

	sk, err := s.mint.keys.get(req.authServer.ID)
	if err != nil {
		return nil, nil, err
	}
	iat := now.Unix()
	access.claims["iat"] = iat
	access.claims["exp"] = iat + access.lifetime
	access.claims["scp"] = req.scopes
	at, err := signClaims(sk, access.claims)
	if err != nil {
		return nil, nil, err
	}
	resp := &tokenResponseBody{TokenType: "Bearer", ExpiresIn: access.lifetime, AccessToken: at, Scope: strings.Join(req.scopes, " ")}
	if refresh != nil {
		s.mint.tokens.saveRefresh(*refresh, now, fmt.Sprint(access.claims["jti"]))
		resp.RefreshToken = refresh.token
	}
	if id != nil {
		id.claims["iat"] = iat
		id.claims["exp"] = iat + id.lifetime
		sum := sha256.Sum256([]byte(at))
		id.claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
		if resp.IDToken, err = signClaims(sk, id.claims); err != nil {
			return nil, nil, err
		}
	}
	return resp, nil, nil
}

func signClaims(sk *signingKey, claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return sk.sign(payload)
}

// uniqueFields splits a space-separated list, dropping repeats, keeping the order.
func uniqueFields(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

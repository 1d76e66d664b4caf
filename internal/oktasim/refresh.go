package oktasim

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Refresh tokens, as Okta issues them from a custom authorization server (OIDC reference
// "/token"; refresh token guide): one is issued with the tokens when offline_access is granted,
// the app allows the refresh_token grant and so does the policy rule that minted them, for the
// authorization_code and password grants. grant_type=refresh_token re-evaluates the policy
// (the rule must allow refresh_token), runs the rule's token inline hook with
// data.context.protocol.OriginalGrant and data.refresh_token, and mints new tokens. The token
// is persistent (Okta's default for web and native apps): the same value is answered again.
// It expires refreshTokenLifetimeMinutes after issue (0: never) or refreshTokenWindowMinutes
// after its last use, whichever is first, and a revoked or expired one is invalid_grant.

// GrantRefreshToken is the grant type that redeems a refresh token.
const GrantRefreshToken = "refresh_token"

const (
	prefixRefreshToken = "oar" // the jti prefix of Okta's example event
	scopeOfflineAccess = "offline_access"
	descBadRefresh     = "The refresh token is invalid or expired."
)

// refreshGrant is an issued refresh token and what it was issued for.
type refreshGrant struct {
	token        string // the opaque value the client holds
	jti          string
	authServerID string
	clientID     string
	userID       string
	scopes       []string
	session      session
	// original is the token request that got the refresh token, for OriginalGrant.
	original eventProtocolRequest
	issued   time.Time
	lastUsed time.Time
	lifetime time.Duration // 0: unlimited
	window   time.Duration
	// accessJTIs are the access tokens minted with this grant: revoking the refresh token
	// revokes them too.
	accessJTIs []string
	revoked    bool
}

// expires is when the refresh token stops working if it is not used again.
func (g *refreshGrant) expires() time.Time {
	exp := g.lastUsed.Add(g.window)
	if g.lifetime > 0 && g.issued.Add(g.lifetime).Before(exp) {
		exp = g.issued.Add(g.lifetime)
	}
	return exp
}

func (g *refreshGrant) active(now time.Time) bool {
	return !g.revoked && now.Before(g.expires())
}

// tokenState is what the simulator remembers of the tokens it issued: refresh tokens, and the
// access tokens revoked before they expire.
type tokenState struct {
	mu      sync.Mutex
	refresh map[string]*refreshGrant // by token value
	revoked map[string]time.Time     // access token jti → its expiry
}

func newTokenState() *tokenState {
	return &tokenState{refresh: map[string]*refreshGrant{}, revoked: map[string]time.Time{}}
}

// refreshGrant returns a copy of the refresh grant for a token value, if any.
func (ts *tokenState) refreshGrant(token string) (refreshGrant, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	g, ok := ts.refresh[token]
	if !ok {
		return refreshGrant{}, false
	}
	out := *g
	out.scopes = slices.Clone(g.scopes)
	return out, true
}

// saveRefresh records a new grant, or the use of an existing one (same token value), with the
// lifetime, window and access token of this mint.
func (ts *tokenState) saveRefresh(g refreshGrant, now time.Time, accessJTI string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for t, old := range ts.refresh {
		if !old.active(now) {
			delete(ts.refresh, t)
		}
	}
	stored, ok := ts.refresh[g.token]
	if !ok {
		stored = &g
		stored.scopes = slices.Clone(g.scopes)
		ts.refresh[g.token] = stored
	}
	stored.lastUsed, stored.lifetime, stored.window = now, g.lifetime, g.window
	stored.accessJTIs = append(stored.accessJTIs, accessJTI)
}

// revokeRefresh revokes a refresh token of clientID and the access tokens minted with it.
func (ts *tokenState) revokeRefresh(token, clientID string, now time.Time) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	g, ok := ts.refresh[token]
	if !ok || g.clientID != clientID {
		return false
	}
	g.revoked = true
	for _, jti := range g.accessJTIs {
		ts.revoked[jti] = now.Add(24 * time.Hour) // past any access token lifetime
	}
	return true
}

// revokeAccess revokes an access token by jti until it expires anyway.
func (ts *tokenState) revokeAccess(jti string, exp, now time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for id, until := range ts.revoked {
		if now.After(until) {
			delete(ts.revoked, id)
		}
	}
	ts.revoked[jti] = exp
}

func (ts *tokenState) accessRevoked(jti string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	_, ok := ts.revoked[jti]
	return ok
}

// redeemRefreshToken fills req from the refresh token of a token request: the same
// authorization server and client, active, and a scope that is a subset of the token's
// (by default all of it).
func (s *Sim) redeemRefreshToken(r *http.Request, req *tokenRequest) *oauthError {
	value := r.Form.Get("refresh_token")
	if value == "" {
		return &oauthError{http.StatusBadRequest, "invalid_request", "The 'refresh_token' parameter is required."}
	}
	g, ok := s.mint.tokens.refreshGrant(value)
	if !ok || !g.active(s.now()) || g.authServerID != req.authServer.ID || g.clientID != req.client.ClientID {
		return &oauthError{http.StatusBadRequest, "invalid_grant", descBadRefresh}
	}
	if len(req.scopes) == 0 {
		req.scopes = slices.Clone(g.scopes)
	}
	for _, sc := range req.scopes {
		if !slices.Contains(g.scopes, sc) {
			return &oauthError{http.StatusBadRequest, "invalid_scope",
				"The requested scopes must be a subset of the scopes the refresh token was issued with."}
		}
	}
	u, ok := s.mint.dir.user(g.userID)
	if !ok {
		return &oauthError{http.StatusBadRequest, "invalid_grant", descBadRefresh}
	}
	req.user, req.groupIDs, req.session = &u, s.mint.dir.groupIDs(u.ID), g.session
	req.refresh = &g
	return nil
}

// refreshFor decides the refresh token of a mint: the one redeemed, kept as it is, or a new one
// when offline_access is granted and the client and rule allow refresh_token; nil for none.
func (s *Sim) refreshFor(req *tokenRequest, rule Rule, now time.Time) *refreshGrant {
	lifetime := time.Duration(rule.Token.RefreshTokenLifetimeMinutes) * time.Minute
	window := time.Duration(rule.Token.RefreshTokenWindowMinutes) * time.Minute
	if g := req.refresh; g != nil {
		out := *g
		out.lifetime, out.window = lifetime, window
		return &out
	}
	if req.grant != GrantAuthorizationCode && req.grant != GrantPassword {
		return nil
	}
	if !slices.Contains(req.scopes, scopeOfflineAccess) || !slices.Contains(req.client.GrantTypes, GrantRefreshToken) ||
		!slices.Contains(rule.Conditions.GrantTypes, GrantRefreshToken) {
		return nil
	}
	return &refreshGrant{
		token: unguessable(), jti: s.mint.ids.id(prefixRefreshToken),
		authServerID: req.authServer.ID, clientID: req.client.ClientID, userID: req.user.ID,
		scopes: slices.Clone(req.scopes), session: req.session, original: req.protocolRequest(),
		issued: now, lastUsed: now, lifetime: lifetime, window: window,
	}
}

// protocolRequest is the OAuth request as the hook event's protocol.request names it.
func (req *tokenRequest) protocolRequest() eventProtocolRequest {
	return eventProtocolRequest{
		ClientID: req.client.ClientID, GrantType: req.grant, RedirectURI: req.redirectURI,
		ResponseMode: req.responseMode, ResponseType: req.responseType, Scope: strings.Join(req.scopes, " "), State: req.state,
	}
}

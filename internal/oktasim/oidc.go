package oktasim

import (
	"html"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The other OpenID Connect endpoints of a custom authorization server that apps call, with
// the request and error shapes of Okta's OAuth OpenAPI (dist/current/oauth-minimal.yaml):
// /v1/introspect and /v1/revoke (form posts with client authentication as for /v1/token),
// /v1/userinfo (a Bearer access token) and /v1/logout (id_token_hint, a browser redirect).

const (
	descNoToken       = "The `token` parameter is required."
	descInvalidBearer = "The access token is invalid"
	// Okta's documented insufficient_scope text; the simulator answers it to an access token
	// without openid, whose claims userinfo cannot give.
	descUserinfoScope = "The access token must provide access to at least one of these scopes - profile, email, address or phone"
)

// signedToken is a token the authorization server signed, read back: its claims, and whether
// it is an access token (which carries cid) rather than an ID token.
type signedToken struct {
	claims map[string]any
	access bool
}

// readSignedToken verifies raw against the authorization server's key and issuer. Expiry and
// revocation are the caller's to check, as logout accepts an expired ID token.
func (s *Sim) readSignedToken(r *http.Request, authServerID, raw string) (signedToken, bool) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return signedToken{}, false
	}
	sk, err := s.mint.keys.get(authServerID)
	if err != nil {
		return signedToken{}, false
	}
	var claims map[string]any
	if err := tok.Claims(sk.jwk.Public(), &claims); err != nil || claims["iss"] != issuer(r, authServerID) {
		return signedToken{}, false
	}
	_, access := claims["cid"]
	return signedToken{claims: claims, access: access}, true
}

func (t signedToken) str(name string) string {
	v, _ := t.claims[name].(string)
	return v
}

func (t signedToken) expires() time.Time {
	exp, _ := t.claims["exp"].(float64)
	return time.Unix(int64(exp), 0)
}

// clientID is who the token was issued to: cid of an access token, aud of an ID token.
func (t signedToken) clientID() string {
	if t.access {
		return t.str("cid")
	}
	return t.str("aud")
}

// tokenActive reports whether the token is unexpired and, for an access token, not revoked.
func (s *Sim) tokenActive(t signedToken) bool {
	if !s.now().Before(t.expires()) {
		return false
	}
	return !t.access || !s.mint.tokens.accessRevoked(t.str("jti"))
}

// oauthClientRequest parses a form post to introspect or revoke: the authorization server, the
// authenticated client and the token parameter.
func (s *Sim) oauthClientRequest(w http.ResponseWriter, r *http.Request, p params) (AuthServer, ClientSpec, string, bool) {
	as, apiErr := s.org.AuthServer(p["authServerId"])
	if apiErr != nil {
		s.writeError(w, apiErr)
		return AuthServer{}, ClientSpec{}, "", false
	}
	if err := r.ParseForm(); err != nil {
		s.writeOAuthError(w, &oauthError{http.StatusBadRequest, "invalid_request", "The request is malformed."})
		return AuthServer{}, ClientSpec{}, "", false
	}
	client, oerr := s.authenticateClient(r)
	if oerr == nil && r.Form.Get("token") == "" {
		oerr = &oauthError{http.StatusBadRequest, "invalid_request", descNoToken}
	}
	if oerr != nil {
		s.writeOAuthError(w, oerr)
		return AuthServer{}, ClientSpec{}, "", false
	}
	return as, client, r.Form.Get("token"), true
}

// introspect serves POST /oauth2/{authServerId}/v1/introspect. Any client of the org may
// introspect access and ID tokens (resource servers do); a refresh token is active only to the
// client it was issued to (unconfirmed: the stricter reading).
func (s *Sim) introspect(w http.ResponseWriter, r *http.Request, p params) {
	as, client, raw, ok := s.oauthClientRequest(w, r, p)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	inactive := map[string]any{"active": false}
	if g, found := s.mint.tokens.refreshGrant(raw); found {
		u, userOK := s.mint.dir.user(g.userID)
		if !g.active(s.now()) || g.authServerID != as.ID || g.clientID != client.ClientID || !userOK {
			s.writeJSON(w, http.StatusOK, inactive)
			return
		}
		s.writeJSON(w, http.StatusOK, map[string]any{
			"active": true, "token_type": "Bearer", "scope": strings.Join(g.scopes, " "),
			"client_id": g.clientID, "username": u.Login, "sub": u.Login, "exp": g.expires().Unix(),
		})
		return
	}
	t, found := s.readSignedToken(r, as.ID, raw)
	if !found || !s.tokenActive(t) {
		s.writeJSON(w, http.StatusOK, inactive)
		return
	}
	out := map[string]any{"active": true, "client_id": t.clientID()}
	for _, c := range []string{"aud", "exp", "iat", "iss", "jti", "sub", "uid"} {
		if v, ok := t.claims[c]; ok {
			out[c] = v
		}
	}
	if t.access {
		out["token_type"] = "Bearer"
		out["username"] = t.str("sub")
		if scp, ok := t.claims["scp"].([]any); ok {
			var names []string
			for _, sc := range scp {
				if name, ok := sc.(string); ok {
					names = append(names, name)
				}
			}
			out["scope"] = strings.Join(names, " ")
		}
	} else if name := t.str("preferred_username"); name != "" {
		out["username"] = name
	}
	s.writeJSON(w, http.StatusOK, out)
}

// revoke serves POST /oauth2/{authServerId}/v1/revoke: a client revokes its own access or
// refresh token (with a refresh token, the access tokens minted with it too). Anything else,
// invalid, expired or another client's, is answered 200 as well, so nothing leaks.
func (s *Sim) revoke(w http.ResponseWriter, r *http.Request, p params) {
	as, client, raw, ok := s.oauthClientRequest(w, r, p)
	if !ok {
		return
	}
	now := s.now()
	if !s.mint.tokens.revokeRefresh(raw, client.ClientID, now) {
		if t, found := s.readSignedToken(r, as.ID, raw); found && t.access && t.clientID() == client.ClientID {
			s.mint.tokens.revokeAccess(t.str("jti"), t.expires(), now)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// bearerError answers a userinfo request Okta's way: the error in WWW-Authenticate, no body.
func bearerError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+desc+`"`)
	w.WriteHeader(status)
}

// userinfo serves GET /oauth2/{authServerId}/v1/userinfo: the claims of the access token's
// user that its scopes allow, sub always.
func (s *Sim) userinfo(w http.ResponseWriter, r *http.Request, p params) {
	as, apiErr := s.org.AuthServer(p["authServerId"])
	if apiErr != nil {
		s.writeError(w, apiErr)
		return
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	t, found := s.readSignedToken(r, as.ID, raw)
	if !ok || !found || !t.access || !s.tokenActive(t) {
		bearerError(w, http.StatusUnauthorized, "invalid_token", descInvalidBearer)
		return
	}
	u, userOK := s.mint.dir.user(t.str("uid"))
	if !userOK {
		bearerError(w, http.StatusUnauthorized, "invalid_token", descInvalidBearer)
		return
	}
	var scopes []string
	if scp, ok := t.claims["scp"].([]any); ok {
		for _, sc := range scp {
			if name, ok := sc.(string); ok {
				scopes = append(scopes, name)
			}
		}
	}
	if !slices.Contains(scopes, "openid") {
		bearerError(w, http.StatusForbidden, "insufficient_scope", descUserinfoScope)
		return
	}
	out := map[string]any{"sub": u.ID}
	if slices.Contains(scopes, "profile") {
		out["name"] = strings.TrimSpace(u.FirstName + " " + u.LastName)
		out["preferred_username"] = u.Login
		out["given_name"] = u.FirstName
		out["family_name"] = u.LastName
		out["locale"] = u.Locale
		out["zoneinfo"] = u.TimeZone
	}
	if slices.Contains(scopes, "email") {
		out["email"] = u.Email
	}
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, http.StatusOK, out)
}

// logout serves GET and POST /oauth2/{authServerId}/v1/logout. The simulator keeps no browser
// session (authorize takes a one-time sessionToken), so signing out has nothing to end: it
// checks id_token_hint (an ID token of this authorization server, expired or not) and the
// post_logout_redirect_uri (one of the app's), then redirects there with the state, or answers
// 200. An invalid request gets Okta's error page.
func (s *Sim) logout(w http.ResponseWriter, r *http.Request, p params) {
	as, apiErr := s.org.AuthServer(p["authServerId"])
	if apiErr != nil {
		s.writeError(w, apiErr)
		return
	}
	if err := r.ParseForm(); err != nil {
		errorPage(w, "invalid_request", "The request is malformed.")
		return
	}
	hint := r.Form.Get("id_token_hint")
	if hint == "" {
		errorPage(w, "invalid_request", "The 'id_token_hint' parameter is required.")
		return
	}
	t, found := s.readSignedToken(r, as.ID, hint)
	if !found || t.access {
		errorPage(w, "invalid_request", "The 'id_token_hint' parameter is not a valid ID token.")
		return
	}
	target := r.Form.Get("post_logout_redirect_uri")
	if target == "" {
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<!DOCTYPE html><title>Signed out</title><p>" + html.EscapeString("You have been signed out.") + "</p>\n"))
		return
	}
	client, ok := s.mint.dir.client(t.clientID())
	if !ok || !slices.Contains(client.PostLogoutRedirectURIs, target) {
		errorPage(w, "invalid_request", "The 'post_logout_redirect_uri' parameter must be a Logout redirect URI in the client app settings: "+target)
		return
	}
	if state := r.Form.Get("state"); state != "" {
		target = withQuery(target, map[string][]string{"state": {state}})
	}
	http.Redirect(w, r, target, http.StatusFound)
}

package oktasim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// The authorization code flow without a browser, the way scripts do it against Okta: POST
// /api/v1/authn with the user's credentials returns a one-time sessionToken; GET
// /oauth2/{authServerId}/v1/authorize?…&sessionToken=… redirects to the client's redirect_uri
// with a code; the token endpoint redeems the code (grant_type=authorization_code) and runs the
// rule's token hook then, when the tokens are minted. There is no interactive sign-in page and
// no session cookie: without a valid sessionToken, authorize answers a page saying so (or
// login_required with prompt=none).

const (
	sessionLifetime      = 2 * time.Hour   // Okta's default session lifetime
	sessionTokenLifetime = 5 * time.Minute // the Authn API's expiresAt
	codeLifetime         = 5 * time.Minute // "The code has a lifetime of 300 seconds."
)

const (
	descBadCode     = "The authorization code is invalid or has expired."
	descNoPKCE      = "PKCE code challenge is required when the token endpoint authentication method is 'NONE'."
	descNotSignedIn = "The client specified not to prompt, but the user is not logged in."
)

type pendingSession struct {
	userID  string
	session session
	expires time.Time
}

type authCode struct {
	authServerID string
	clientID     string
	redirectURI  string
	state        string
	nonce        string
	challenge    string // S256 code_challenge, if any
	scopes       []string
	userID       string
	session      session
	expires      time.Time
}

type flows struct {
	mu            sync.Mutex
	sessionTokens map[string]pendingSession
	codes         map[string]authCode
}

func newFlows() *flows {
	return &flows{sessionTokens: map[string]pendingSession{}, codes: map[string]authCode{}}
}

func (m *mintState) newSession(now time.Time) session {
	return session{id: prefixSession + m.ids.random(22), created: now.UTC().Truncate(time.Second)}
}

// unguessable returns a random token for credentials, unlike the seeded IDs.
func unguessable() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authn serves POST /api/v1/authn, the classic Authentication API's primary authentication
// with a password: a one-time sessionToken for a user whose credentials match.
func (s *Sim) authn(w http.ResponseWriter, r *http.Request, _ params) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		s.writeError(w, err)
		return
	}
	u, ok := s.mint.dir.authenticate(in.Username, in.Password)
	if !ok {
		s.writeError(w, &Error{Status: http.StatusUnauthorized, Code: "E0000004", Summary: "Authentication failed"})
		return
	}
	now := s.now().UTC()
	token := unguessable()
	expires := now.Add(sessionTokenLifetime)
	f := s.mint.flows
	f.mu.Lock()
	for t, p := range f.sessionTokens {
		if now.After(p.expires) {
			delete(f.sessionTokens, t)
		}
	}
	f.sessionTokens[token] = pendingSession{userID: u.ID, session: s.mint.newSession(now), expires: expires}
	f.mu.Unlock()
	type profile struct {
		Login     string `json:"login"`
		FirstName string `json:"firstName"`
		LastName  string `json:"lastName"`
		Locale    string `json:"locale"`
		TimeZone  string `json:"timeZone"`
	}
	type user struct {
		ID              string  `json:"id"`
		PasswordChanged string  `json:"passwordChanged"`
		Profile         profile `json:"profile"`
	}
	s.writeJSON(w, http.StatusOK, struct {
		ExpiresAt    string `json:"expiresAt"`
		Status       string `json:"status"`
		SessionToken string `json:"sessionToken"`
		Embedded     struct {
			User user `json:"user"`
		} `json:"_embedded"`
	}{ExpiresAt: formatTime(expires), Status: "SUCCESS", SessionToken: token, Embedded: struct {
		User user `json:"user"`
	}{User: user{ID: u.ID, PasswordChanged: formatTime(u.Created),
		Profile: profile{Login: u.Login, FirstName: u.FirstName, LastName: u.LastName, Locale: u.Locale, TimeZone: u.TimeZone}}}})
}

// authorize serves GET /oauth2/{authServerId}/v1/authorize for response_type=code with a
// sessionToken. Errors before the redirect_uri is known good are an error page; later ones go
// back to the client on the redirect_uri, with the state.
func (s *Sim) authorize(w http.ResponseWriter, r *http.Request, p params) {
	as, apiErr := s.org.AuthServer(p["authServerId"])
	if apiErr != nil {
		s.writeError(w, apiErr)
		return
	}
	q := r.URL.Query()
	client, ok := s.mint.dir.client(q.Get("client_id"))
	if !ok {
		errorPage(w, "invalid_client", "Invalid value for 'client_id' parameter.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !slices.Contains(client.RedirectURIs, redirectURI) {
		errorPage(w, "invalid_request", "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings: "+redirectURI)
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		v := url.Values{"error": {code}, "error_description": {desc}}
		if state != "" {
			v.Set("state", state)
		}
		http.Redirect(w, r, withQuery(redirectURI, v), http.StatusFound)
	}
	scopes := uniqueFields(q.Get("scope"))
	challenge := q.Get("code_challenge")
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "The response type is not supported by the authorization server. Configured response types: [code].")
		return
	case q.Get("response_mode") != "" && q.Get("response_mode") != "query":
		fail("invalid_request", "The simulator supports response_mode=query only.")
		return
	case !slices.Contains(client.GrantTypes, GrantAuthorizationCode):
		fail("unauthorized_client", "The client is not authorized to use the provided grant type. Configured grant types: ["+strings.Join(client.GrantTypes, ", ")+"].")
		return
	case state == "":
		fail("invalid_request", "The 'state' parameter is required.")
		return
	case len(scopes) == 0:
		fail("invalid_scope", descNoScope)
		return
	case s.org.hasUndefinedScope(as.ID, scopes):
		fail("invalid_scope", descUndefinedScope)
		return
	case challenge == "" && client.public():
		fail("invalid_request", descNoPKCE)
		return
	case challenge != "" && q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "Only 'S256' is supported as the code_challenge_method.")
		return
	}

	now := s.now().UTC()
	f := s.mint.flows
	f.mu.Lock()
	pending, found := f.sessionTokens[q.Get("sessionToken")]
	delete(f.sessionTokens, q.Get("sessionToken")) // one-time
	f.mu.Unlock()
	if !found || now.After(pending.expires) {
		if q.Get("prompt") == "none" {
			fail("login_required", descNotSignedIn)
			return
		}
		w.Header().Set("Content-Type", "text/html;charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<!DOCTYPE html><title>Sign In</title><p>oktasim has no interactive sign-in: pass a sessionToken from POST /api/v1/authn.</p>\n"))
		return
	}
	u, ok := s.mint.dir.user(pending.userID)
	if !ok {
		fail("access_denied", "The user is not active.")
		return
	}
	req := &tokenRequest{authServer: as, issuer: issuer(r, as.ID), client: client, grant: GrantAuthorizationCode,
		scopes: scopes, user: &u, groupIDs: s.mint.dir.groupIDs(u.ID)}
	if _, _, ok := s.org.evaluate(req); !ok {
		fail("access_denied", descPolicyFailed)
		return
	}
	code := unguessable()
	f.mu.Lock()
	for c, ac := range f.codes {
		if now.After(ac.expires) {
			delete(f.codes, c)
		}
	}
	f.codes[code] = authCode{authServerID: as.ID, clientID: client.ClientID, redirectURI: redirectURI, state: state,
		nonce: q.Get("nonce"), challenge: challenge, scopes: scopes, userID: u.ID, session: pending.session,
		expires: now.Add(codeLifetime)}
	f.mu.Unlock()
	http.Redirect(w, r, withQuery(redirectURI, url.Values{"code": {code}, "state": {state}}), http.StatusFound)
}

// redeemCode fills req from the authorization code of the token request: single use, same
// authorization server, client and redirect_uri, and the PKCE verifier.
func (s *Sim) redeemCode(r *http.Request, req *tokenRequest) *oauthError {
	code := r.Form.Get("code")
	f := s.mint.flows
	f.mu.Lock()
	ac, found := f.codes[code]
	delete(f.codes, code)
	f.mu.Unlock()
	if !found || s.now().After(ac.expires) || ac.authServerID != req.authServer.ID || ac.clientID != req.client.ClientID {
		return &oauthError{http.StatusBadRequest, "invalid_grant", descBadCode}
	}
	if r.Form.Get("redirect_uri") != ac.redirectURI {
		return &oauthError{http.StatusBadRequest, "invalid_grant", "The 'redirect_uri' does not match the redirection URI used in the authorization request."}
	}
	if ac.challenge != "" {
		sum := sha256.Sum256([]byte(r.Form.Get("code_verifier")))
		if !constantTimeEqual(base64.RawURLEncoding.EncodeToString(sum[:]), ac.challenge) {
			return &oauthError{http.StatusBadRequest, "invalid_grant", "PKCE verification failed."}
		}
	}
	u, ok := s.mint.dir.user(ac.userID)
	if !ok {
		return &oauthError{http.StatusBadRequest, "invalid_grant", descBadCode}
	}
	req.user, req.groupIDs, req.session = &u, s.mint.dir.groupIDs(u.ID), ac.session
	req.scopes, req.nonce = ac.scopes, ac.nonce
	req.redirectURI, req.state, req.responseType, req.responseMode = ac.redirectURI, ac.state, "code", "query"
	return nil
}

func withQuery(uri string, v url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + v.Encode()
}

// errorPage is Okta's HTML error page (400) for browser requests it cannot send back.
func errorPage(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "text/html;charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte("<!DOCTYPE html><title>Error</title><h1>" + html.EscapeString(desc) +
		"</h1><p>Error Code: " + html.EscapeString(code) + "</p>\n"))
}

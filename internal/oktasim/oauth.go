package oktasim

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ServiceApp is an OAuth 2.0 service app allowed to call the management API with
// private_key_jwt client authentication, the SDK's PrivateKey mode.
type ServiceApp struct {
	ClientID  string
	PublicKey *rsa.PublicKey
	KeyID     string   // if set, a client assertion with another kid is refused
	Scopes    []string // granted scopes, e.g. okta.inlineHooks.manage
}

const (
	accessTokenLifetime = time.Hour
	assertionType       = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	clockSkew           = time.Minute
)

type accessToken struct {
	clientID string
	scopes   []string
	expires  time.Time
}

type oauthState struct {
	mu     sync.Mutex
	apps   map[string]ServiceApp
	tokens map[string]accessToken
	jtis   map[string]time.Time // used assertion IDs until they expire
}

func newOAuthState() *oauthState {
	return &oauthState{apps: map[string]ServiceApp{}, tokens: map[string]accessToken{}, jtis: map[string]time.Time{}}
}

// AddServiceApp registers (or replaces) a service app.
func (s *Sim) AddServiceApp(app ServiceApp) error {
	if app.ClientID == "" || app.PublicKey == nil {
		return errors.New("oktasim: a service app needs a ClientID and a PublicKey")
	}
	if len(app.Scopes) == 0 {
		return errors.New("oktasim: a service app needs granted Scopes")
	}
	app.Scopes = slices.Clone(app.Scopes)
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	s.oauth.apps[app.ClientID] = app
	return nil
}

// lookup returns the scopes of a valid access token.
func (o *oauthState) lookup(token string, now time.Time) ([]string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.tokens[token]
	if !ok || !now.Before(t.expires) {
		return nil, false
	}
	return t.scopes, true
}

// oauthError is an OAuth 2.0 error response (RFC 6749 §5.2).
type oauthError struct {
	status      int
	code        string
	description string
}

func (s *Sim) writeOAuthError(w http.ResponseWriter, e *oauthError) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(e.status)
	_, _ = w.Write(marshal(map[string]string{"error": e.code, "error_description": e.description}))
}

// orgToken is the client_credentials grant of the org authorization server with a
// private_key_jwt client assertion. The SDK sends the parameters in the query string; a form
// body works too.
func (s *Sim) orgToken(w http.ResponseWriter, r *http.Request, _ params) {
	if err := r.ParseForm(); err != nil {
		s.writeOAuthError(w, &oauthError{http.StatusBadRequest, "invalid_request", "The request is malformed."})
		return
	}
	tokenURL := baseURL(r) + "/oauth2/v1/token"
	tok, oerr := s.oauth.issue(r.Form, tokenURL, s.now())
	if oerr != nil {
		s.writeOAuthError(w, oerr)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.writeJSON(w, http.StatusOK, tok)
}

type tokenResponse struct {
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
}

func (o *oauthState) issue(form map[string][]string, tokenURL string, now time.Time) (*tokenResponse, *oauthError) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if gt := get("grant_type"); gt != "client_credentials" {
		return nil, &oauthError{http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server."}
	}
	if get("client_assertion_type") != assertionType || get("client_assertion") == "" {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "Client authentication failed: a private_key_jwt client assertion is required."}
	}
	tok, err := jwt.ParseSigned(get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "The client_assertion token is malformed."}
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "The client_assertion token is malformed."}
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	app, ok := o.apps[unverified.Issuer]
	if !ok {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "The client_id is not registered."}
	}
	if kid := tok.Headers[0].KeyID; app.KeyID != "" && kid != "" && kid != app.KeyID {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "The client_assertion was signed with an unknown key."}
	}
	var claims jwt.Claims
	if err := tok.Claims(app.PublicKey, &claims); err != nil {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "The client_assertion signature is invalid."}
	}
	err = claims.ValidateWithLeeway(jwt.Expected{
		Issuer: app.ClientID, Subject: app.ClientID, AnyAudience: jwt.Audience{tokenURL}, Time: now,
	}, clockSkew)
	if err != nil || claims.Expiry == nil {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "The client_assertion token is invalid: check iss, sub, aud and exp."}
	}
	if claims.IssuedAt != nil && claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > time.Hour+clockSkew {
		return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "The client_assertion token expires more than one hour after it was issued."}
	}
	for id, exp := range o.jtis {
		if now.After(exp) {
			delete(o.jtis, id)
		}
	}
	if claims.ID != "" {
		if _, used := o.jtis[claims.ID]; used {
			return nil, &oauthError{http.StatusUnauthorized, "invalid_client", "The client_assertion token has already been used."}
		}
		o.jtis[claims.ID] = claims.Expiry.Time().Add(clockSkew)
	}

	scopes := strings.Fields(get("scope"))
	if len(scopes) == 0 {
		return nil, &oauthError{http.StatusBadRequest, "invalid_scope", "The authorization server resource does not have any configured default scopes, 'scope' must be provided."}
	}
	for _, sc := range scopes {
		if !slices.Contains(app.Scopes, sc) {
			return nil, &oauthError{http.StatusBadRequest, "invalid_scope", descUndefinedScope}
		}
	}

	for t, at := range o.tokens {
		if !now.Before(at.expires) {
			delete(o.tokens, t)
		}
	}
	access := rand.Text() + rand.Text() // unguessable, unlike the seeded IDs
	o.tokens[access] = accessToken{clientID: app.ClientID, scopes: scopes, expires: now.Add(accessTokenLifetime)}
	return &tokenResponse{TokenType: "Bearer", ExpiresIn: int(accessTokenLifetime / time.Second),
		AccessToken: access, Scope: strings.Join(scopes, " ")}, nil
}

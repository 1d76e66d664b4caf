package oktasim

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// private_key_jwt client authentication at the endpoints of custom authorization servers (token,
// introspect, revoke), for apps with TokenEndpointAuthMethod ClientAuthPrivateKeyJWT, as Okta's
// "Build a JWT for client authentication" guide gives it: a client_assertion (RFC 7523) signed
// by a key of the app's JWKS (RS256, RS384 or RS512: the JWKS hold RSA keys), iss and sub the
// client ID, aud exactly the URL of the endpoint, exp required and "more than one hour in the
// future" refused, iat optional but not after the request, jti optional but "the token can
// only be used once" if it has one.
//
// Error bodies: invalid_request "The `client_assertion_type` is invalid." is the OAuth
// OpenAPI's example (OAuthError400InvalidRequest_AssertionTypeInvalid); the kid, signature and
// audience descriptions are Okta's as its support articles quote them; the others are
// unconfirmed, in Okta's style. All failures of the assertion itself are 401 invalid_client.

// maxAssertionLifetime is how far in the future exp may be: "This claim fails the request if
// the expiration time is more than one hour in the future".
const maxAssertionLifetime = time.Hour

// Assertion algorithms Okta accepts that fit the RSA keys of a JWKS.
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512}

const (
	descAssertionType      = "The `client_assertion_type` is invalid."
	descAssertionMalformed = "The client_assertion token is malformed."
	descAssertionKid       = "The client_assertion JWT kid is invalid."
	descAssertionSignature = "The client_assertion signature is invalid."
	descAssertionAudience  = "The audience claim for client_assertion must be the endpoint invoked for the request."
	descAssertionSubject   = "The issuer and subject claims for client_assertion must be the client_id."
	descAssertionExpired   = "The client_assertion token is expired."
	descAssertionNoExpiry  = "The client_assertion token must have an expiration."
	descAssertionTooLong   = "The client_assertion token has an expiration too far into the future."
	descAssertionIssuedAt  = "The client_assertion token has an issue time in the future."
	descAssertionReplayed  = "The client_assertion token has already been used."
)

// authenticateAssertion authenticates the client by its client_assertion.
func (s *Sim) authenticateAssertion(r *http.Request) (ClientSpec, *oauthError) {
	invalid := func(desc string) (ClientSpec, *oauthError) {
		return ClientSpec{}, &oauthError{http.StatusUnauthorized, "invalid_client", desc}
	}
	if r.Form.Get("client_assertion_type") != assertionType {
		return ClientSpec{}, &oauthError{http.StatusBadRequest, "invalid_request", descAssertionType}
	}
	raw := r.Form.Get("client_assertion")
	if raw == "" {
		return invalid(descNoClientID)
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgorithms)
	if err != nil {
		return invalid(descAssertionMalformed)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return invalid(descAssertionMalformed)
	}
	id := r.Form.Get("client_id")
	if id == "" {
		id = unverified.Issuer
	}
	c, ok := s.mint.dir.client(id)
	if !ok || c.TokenEndpointAuthMethod != ClientAuthPrivateKeyJWT {
		return invalid(descInvalidClient)
	}
	// The key: the one with the assertion's kid, or without a kid the app's only key.
	keys := c.JWKS
	if kid := tok.Headers[0].KeyID; kid != "" || len(keys) != 1 {
		keys = slices.DeleteFunc(slices.Clone(keys), func(k jose.JSONWebKey) bool { return k.KeyID != kid })
	}
	if len(keys) == 0 {
		return invalid(descAssertionKid)
	}
	var claims jwt.Claims
	if !slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return tok.Claims(k.Key, &claims) == nil }) {
		return invalid(descAssertionSignature)
	}
	now := s.now()
	switch {
	case claims.Issuer != c.ClientID || claims.Subject != c.ClientID:
		return invalid(descAssertionSubject)
	case !slices.Contains(claims.Audience, baseURL(r)+r.URL.Path):
		return invalid(descAssertionAudience)
	case claims.Expiry == nil:
		return invalid(descAssertionNoExpiry)
	case !now.Before(claims.Expiry.Time().Add(clockSkew)):
		return invalid(descAssertionExpired)
	case claims.Expiry.Time().After(now.Add(maxAssertionLifetime + clockSkew)):
		return invalid(descAssertionTooLong)
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(clockSkew)),
		claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(clockSkew)):
		return invalid(descAssertionIssuedAt)
	}
	if claims.ID != "" && !s.mint.assertions.use(c.ClientID+" "+claims.ID, claims.Expiry.Time().Add(clockSkew), now) {
		return invalid(descAssertionReplayed)
	}
	return c, nil
}

// jtiSet remembers the IDs of the client assertions used, until they expire.
type jtiSet struct {
	mu   sync.Mutex
	used map[string]time.Time
}

// use records id and reports whether it was new.
func (j *jtiSet) use(id string, until, now time.Time) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.used == nil {
		j.used = map[string]time.Time{}
	}
	for x, exp := range j.used {
		if now.After(exp) {
			delete(j.used, x)
		}
	}
	if _, seen := j.used[id]; seen {
		return false
	}
	j.used[id] = until
	return true
}

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
// introspect, revoke), for apps with TokenEndpointAuthMethod ClientAuthPrivateKeyJWT: a
// client_assertion (RFC 7523) signed RS256 by a key of the app's JWKS, iss and sub the client
// ID, aud the endpoint's URL, exp at most an hour away, and a jti used once.

// maxAssertionLifetime is how far exp may be from iat (or now): Okta's "exp … must be no more
// than one hour in the future".
const maxAssertionLifetime = time.Hour

// authenticateAssertion authenticates the client by its client_assertion.
func (s *Sim) authenticateAssertion(r *http.Request) (ClientSpec, *oauthError) {
	invalid := func(desc string) (ClientSpec, *oauthError) {
		return ClientSpec{}, &oauthError{http.StatusUnauthorized, "invalid_client", desc}
	}
	raw := r.Form.Get("client_assertion")
	if r.Form.Get("client_assertion_type") != assertionType || raw == "" {
		return invalid("The client_assertion_type must be " + assertionType + " with a client_assertion.")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return invalid("The client_assertion token is malformed.")
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return invalid("The client_assertion token is malformed.")
	}
	c, ok := s.mint.dir.client(unverified.Issuer)
	if !ok || c.TokenEndpointAuthMethod != ClientAuthPrivateKeyJWT {
		return invalid(descInvalidClient)
	}
	if id := r.Form.Get("client_id"); id != "" && id != c.ClientID {
		return invalid(descInvalidClient)
	}
	keys := c.JWKS
	if kid := tok.Headers[0].KeyID; kid != "" {
		keys = slices.DeleteFunc(slices.Clone(keys), func(k jose.JSONWebKey) bool { return k.KeyID != kid })
		if len(keys) == 0 {
			return invalid("The client_assertion was signed with a key the client's JWKS does not have.")
		}
	}
	var claims jwt.Claims
	verified := slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return tok.Claims(k.Key, &claims) == nil })
	if !verified {
		return invalid("The client_assertion signature is invalid.")
	}
	now := s.now()
	err = claims.ValidateWithLeeway(jwt.Expected{
		Issuer: c.ClientID, Subject: c.ClientID, AnyAudience: jwt.Audience{baseURL(r) + r.URL.Path}, Time: now,
	}, clockSkew)
	if err != nil || claims.Expiry == nil {
		return invalid("The client_assertion token is invalid: check iss, sub, aud and exp.")
	}
	from := now
	if claims.IssuedAt != nil {
		from = claims.IssuedAt.Time()
	}
	if claims.Expiry.Time().Sub(from) > maxAssertionLifetime+clockSkew {
		return invalid("The client_assertion token expires more than one hour after it was issued.")
	}
	if claims.ID == "" {
		return invalid("The client_assertion token must have a jti.")
	}
	if !s.mint.assertions.use(claims.ID, claims.Expiry.Time().Add(clockSkew), now) {
		return invalid("The client_assertion token has already been used.")
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

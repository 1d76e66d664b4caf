package hookserver

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/tokenhook/tokenhook/hookserver/internal/bearer"
)

// AuthMode says which credentials a hook call may carry, matching the
// channel of the Okta inline hook.
type AuthMode string

// Auth modes.
const (
	// AuthModeHeader accepts the shared secret in the auth header (an HTTP channel).
	AuthModeHeader AuthMode = "header"
	// AuthModeOAuth accepts an OAuth 2.0 access token, "Authorization: Bearer
	// <JWT>" (an OAUTH channel).
	AuthModeOAuth AuthMode = "oauth"
	// AuthModeBoth accepts either, so that no call fails while Okta's channel
	// switches from one to the other.
	AuthModeBoth AuthMode = "both"
)

// ParseAuthMode parses header, oauth or both.
func ParseAuthMode(s string) (AuthMode, error) {
	switch m := AuthMode(s); m {
	case AuthModeHeader, AuthModeOAuth, AuthModeBoth:
		return m, nil
	}
	return "", fmt.Errorf("unknown auth mode %q: want header, oauth or both", s)
}

func (m AuthMode) header() bool { return m == AuthModeHeader || m == AuthModeBoth }
func (m AuthMode) oauth() bool  { return m == AuthModeOAuth || m == AuthModeBoth }

// BearerVerifier checks OAuth 2.0 access tokens.
type BearerVerifier interface {
	// Verify returns nil if token (the Authorization header after "Bearer ")
	// is valid, else an error; ctx bounds any wait for signing keys.
	Verify(ctx context.Context, token string) error
}

// Reasons a call is unauthorized besides those of a refused bearer token
// (bearer.Reasons): the values of the auth failures metric's reason label.
const (
	authMissing   = "missing"    // no credential of an accepted kind
	authBadSecret = "bad_secret" // the auth header holds no accepted secret
)

// Authentication methods, the values of the authenticated calls metric's method label.
const (
	methodHeader = "header"
	methodOAuth  = "oauth"
)

// authFailureReasons lists every reason label value.
func authFailureReasons() []string {
	r := []string{authMissing, authBadSecret}
	for _, b := range bearer.Reasons {
		r = append(r, string(b))
	}
	return r
}

// authenticate checks the credentials of a call and returns "" if they are
// accepted, else the reason. A bearer token goes first: when the auth header
// is Authorization too, a "Bearer <JWT>" value is most likely a token. Then
// the secret, so that in both mode a secret that happens to start with
// "Bearer " still passes.
func (h *Handler) authenticate(r *http.Request) string {
	var bearerErr error
	if h.bearer != nil {
		if token, ok := bearerToken(r.Header["Authorization"]); ok {
			if bearerErr = h.bearer.Verify(r.Context(), token); bearerErr == nil {
				h.metrics.observeAuth(methodOAuth)
				return ""
			}
		}
	}
	secretSent := false
	if h.auth != nil {
		if v := r.Header[h.authHeader]; len(v) == 1 {
			if h.auth.Valid(v[0]) {
				h.metrics.observeAuth(methodHeader)
				return ""
			}
			secretSent = true
		} else if len(v) > 1 {
			secretSent = true
		}
	}
	switch reason := bearer.ReasonOf(bearerErr); {
	case bearerErr != nil && (reason != bearer.ReasonMalformed || !secretSent):
		return string(reason)
	case secretSent:
		return authBadSecret
	}
	return authMissing
}

// bearerToken is the token of a single "Authorization: Bearer <token>" value.
func bearerToken(values []string) (string, bool) {
	if len(values) != 1 {
		return "", false
	}
	const scheme = "Bearer "
	v := values[0]
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimLeft(v[len(scheme):], " "), true
}

// unauthorizedMessage is the errorSummary of every refused call: it names the
// headers that may carry credentials, and nothing about what was wrong.
func unauthorizedMessage(mode AuthMode, authHeader string) string {
	switch {
	case mode == AuthModeOAuth:
		return "Missing or invalid Authorization header."
	case mode == AuthModeBoth && !strings.EqualFold(authHeader, "Authorization"):
		return "Missing or invalid " + authHeader + " or Authorization header."
	}
	return "Missing or invalid " + authHeader + " header."
}

// bearerChallenge is the WWW-Authenticate value of a 401 when tokens are
// accepted (RFC 6750 section 3), without error details.
var bearerChallenge = []string{"Bearer"}

package protocol

import (
	"bytes"
	"regexp"
)

// The route check. The operator proves that Okta's call reaches the hook
// server by asking Okta to execute the inline hook (POST
// /api/v1/inlineHooks/{id}/execute) with a probe event: a client_credentials
// event, which has no end user, whose eventId is ProbeEventIDPrefix followed
// by a fresh nonce. The hook server answers it with 200 and one command that
// adds ProbeClaim = nonce to the access token, so the answer Okta relays could
// only come from an authenticated call to a tokenhook hook server.
//
// Real Okta events never carry such an eventId, and an event without an end
// user is never given a patient ID nor denied, so the probe changes nothing
// for real logins.
const (
	ProbeEventIDPrefix = "tokenhook-route-check-"
	ProbeClaim         = "tokenhook_route_check"
)

var probeNonce = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// ProbeNonce returns the nonce of a probe event, if s summarises one.
func ProbeNonce(s *Summary) ([]byte, bool) {
	nonce, ok := bytes.CutPrefix(s.EventID, []byte(ProbeEventIDPrefix))
	if !ok || s.HasEndUser() || !s.HasAccessToken || !probeNonce.Match(nonce) {
		return nil, false
	}
	return nonce, true
}

// ProbeEvent is the probe event for nonce: what Okta would send for a
// client_credentials token request, trimmed to what a token hook reads.
func ProbeEvent(nonce, issuer, clientID string) *Event {
	return &Event{
		EventID:           ProbeEventIDPrefix + nonce,
		EventType:         EventType,
		EventTypeVersion:  "1.0",
		CloudEventVersion: "0.1",
		ContentType:       "application/json",
		Source:            issuer + "/v1/token",
		Data: Data{
			Context: Context{
				Protocol: &Protocol{
					Type:    "OAUTH2.0",
					Request: &ProtocolRequest{ClientID: clientID, GrantType: GrantClientCredentials},
					Issuer:  &Issuer{URI: issuer},
					Client:  &Client{ID: clientID, Name: "tokenhook route check", Type: "CONFIDENTIAL"},
				},
			},
			Access: &MintedToken{
				Claims: map[string]any{"ver": 1, "iss": issuer, "cid": clientID, "sub": clientID},
				Token:  TokenInfo{Lifetime: Lifetime{Expiration: 300}},
			},
		},
	}
}

// ProbeResponse is the hook server's answer to a probe with nonce.
func ProbeResponse(nonce string) Response {
	return Response{Commands: []Command{AddClaim(AccessToken, ProbeClaim, nonce)}}
}

// IsProbeResponse reports whether r is the answer to the probe with nonce.
func IsProbeResponse(r *Response, nonce string) bool {
	if r == nil || r.Error != nil || len(r.Commands) != 1 {
		return false
	}
	c := r.Commands[0]
	return c.Type == AccessToken.PatchType() && len(c.Value) == 1 &&
		c.Value[0].Op == OpAdd && c.Value[0].Path == ClaimPath(ProbeClaim) && c.Value[0].Value == nonce
}

package oktasim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Calling a policy rule's token inline hook like Okta (SPEC 1 to 3): POST the
// com.okta.oauth2.tokens.transform event with the channel's auth header (HTTP) or an access
// token (OAUTH, hook_oauth.go) and its custom headers, wait at most the hook timeout (getting
// the access token included), no retry, no redirects; only a 200 counts.

// Outcomes of a token inline hook call (HookCall.Outcome).
const (
	// HookApplied: 200 with commands (possibly none), all applied.
	HookApplied = "applied"
	// HookSkipped: the hook answered another status than 200 (204 included); the tokens are
	// issued unpatched.
	HookSkipped = "skipped"
	// HookFailed: no usable answer (timeout, connection error, a body of 256 KB or more,
	// unparsable JSON, no access token for an OAUTH channel) or a patch Okta rejects as a
	// whole; the tokens are issued unpatched.
	HookFailed = "failed"
	// HookDenied: 200 with an error object; the token request fails with server_error.
	HookDenied = "denied"
)

// maxHookResponse is the size a hook response must stay under (SPEC 2.1).
const maxHookResponse = 256 << 10

// HookCall is one call of a token inline hook by the token endpoint.
type HookCall struct {
	HookID   string
	EventID  string
	RuleID   string
	Status   int // the hook's HTTP status; 0 if it did not answer
	Duration time.Duration
	Outcome  string // HookApplied, HookSkipped, HookFailed or HookDenied
	Reason   string // why, for every outcome but HookApplied
	// TokenFetched says whether an OAUTH channel asked its tokenUrl for a new access token
	// for this call (false: it used the one it had, or the channel is HTTP). Duration
	// includes the token request.
	TokenFetched bool
	// DebugContext is the debugContext object of a 200 answer, as sent; Okta would write it
	// to its System Log.
	DebugContext string
}

type hookCallLog struct {
	mu    sync.Mutex
	calls []HookCall
}

// HookCalls returns the token inline hook calls made so far, oldest first. A rule whose hook is
// INACTIVE or missing makes no call.
func (s *Sim) HookCalls() []HookCall {
	l := &s.mint.hookCalls
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// ResetHookCalls empties the hook call log.
func (s *Sim) ResetHookCalls() {
	l := &s.mint.hookCalls
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}

// runHook calls the rule's hook if it is an ACTIVE token hook and applies its answer to the
// draft tokens (id is nil when no ID token is minted). A non-nil result is the hook's veto.
func (s *Sim) runHook(r *http.Request, req *tokenRequest, policy Policy, rule Rule, now time.Time, id, access *draftToken, refresh *refreshGrant) *oauthError {
	hook, apiErr := s.org.Hook(rule.Token.InlineHookID)
	if apiErr != nil || hook.Status != StatusActive || hook.Type != HookTypeToken {
		return nil
	}
	if hookRecursion(r.Context(), hook.ID) {
		// This is the token request of the hook's own OAUTH channel: it cannot end before
		// the hook's timeout (hook_oauth.go), which the caller reports.
		<-r.Context().Done()
		return &oauthError{http.StatusBadRequest, "server_error", descHookErrorFallback}
	}
	event := s.buildEvent(r, req, policy, rule, now, id, access, refresh)
	call := HookCall{HookID: hook.ID, EventID: event.EventID, RuleID: rule.ID}
	start := time.Now()
	answer, err := s.postEvent(r.Context(), baseURL(r), hook, event)
	status, body := answer.status, answer.body
	call.Duration, call.Status, call.TokenFetched = time.Since(start), status, answer.tokenFetched

	var veto *oauthError
	switch {
	case err != nil:
		call.Outcome, call.Reason = HookFailed, err.Error()
	case status != http.StatusOK:
		// The start of the body says why, for a test's failure message
		// (Okta's System Log shows only the status).
		call.Outcome, call.Reason = HookSkipped, fmt.Sprintf("the hook answered %d: %.120q", status, body)
	default:
		resp, perr := parseHookResponse(body)
		switch {
		case perr != nil:
			call.Outcome, call.Reason = HookFailed, perr.Error()
		case resp.Error != nil:
			call.DebugContext = resp.debugContext()
			desc := resp.Error.ErrorSummary
			if desc == "" {
				desc = descHookErrorFallback
			}
			call.Outcome, call.Reason = HookDenied, desc
			// The status Okta answers with is unconfirmed.
			veto = &oauthError{http.StatusBadRequest, "server_error", desc}
		default:
			call.DebugContext = resp.debugContext()
			if err := applyCommands(resp.Commands, id, access); err != nil {
				call.Outcome, call.Reason = HookFailed, "patch rejected: "+err.Error()
			} else {
				call.Outcome = HookApplied
			}
		}
	}
	s.mint.hookCalls.add(call)
	if s.opts.Logf != nil {
		s.opts.Logf("oktasim: token hook %s for rule %s -> %d %s %s", hook.ID, rule.ID, call.Status, call.Outcome, call.Reason)
	}
	return veto
}

func (l *hookCallLog) add(c HookCall) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// hookAnswer is what a hook call got: the hook's status and, for a 200, its body.
type hookAnswer struct {
	status       int // 0 if the hook was not reached
	body         []byte
	tokenFetched bool // an OAUTH channel asked for a new access token
}

// postEvent sends the event; base is the org URL the triggering request came to.
func (s *Sim) postEvent(ctx context.Context, base string, hook Hook, event *hookEvent) (hookAnswer, error) {
	payload, err := json.Marshal(event)
	if err != nil {
		return hookAnswer{}, fmt.Errorf("encode event: %w", err)
	}
	return s.postPayload(ctx, base, hook, payload)
}

// postPayload POSTs payload through the hook's channel within the hook timeout, which also
// bounds getting an OAUTH channel's access token.
func (s *Sim) postPayload(ctx context.Context, base string, hook Hook, payload []byte) (hookAnswer, error) {
	var answer hookAnswer
	ch := hook.Channel
	ctx, cancel := context.WithTimeout(ctx, s.mint.hookTimeout)
	defer cancel()
	var bearer string
	switch {
	case ch.Type == channelHTTP:
	case ch.Type == channelOAuth && ch.OAuth != nil:
		var err error
		if bearer, answer.tokenFetched, err = s.hookAccessToken(ctx, base, hook); err != nil {
			return answer, err
		}
	default:
		return answer, fmt.Errorf("channel type %s is not simulated", ch.Type)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.URI, bytes.NewReader(payload))
	if err != nil {
		return answer, err
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("Content-Type", "application/json")
	for _, h := range ch.Headers {
		hreq.Header.Set(h.Key, h.Value)
	}
	if a := ch.AuthScheme; a != nil && ch.Type == channelHTTP {
		hreq.Header.Set(a.Key, a.Value)
	}
	if bearer != "" {
		hreq.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.mint.hookClient.Do(hreq)
	if err == nil {
		defer func() { _ = resp.Body.Close() }()
		// net/http hands over a response that raced the deadline's connection
		// close; Okta's budget is strict, so a late answer is a timeout.
		err = ctx.Err()
	}
	if err != nil {
		return answer, hookError(err, s.mint.hookTimeout)
	}
	answer.status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		// Okta reads nothing of it; the start is kept for HookCall's reason.
		answer.body, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
		return answer, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHookResponse))
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return answer, hookError(err, s.mint.hookTimeout)
	}
	if len(body) >= maxHookResponse {
		return answer, fmt.Errorf("the response is %d KB or more", maxHookResponse>>10)
	}
	answer.body = body
	return answer, nil
}

func hookError(err error, timeout time.Duration) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	return err
}

// parseHookResponse decodes a 200's body: one JSON object, numbers kept exact.
func parseHookResponse(body []byte) (*hookResponse, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var resp hookResponse
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("could not deserialize inline hook response: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("could not deserialize inline hook response: data after the JSON value")
	}
	return &resp, nil
}

// debugContext returns the answer's debugContext as sent, "" if absent or null.
func (r *hookResponse) debugContext() string {
	if len(r.DebugContext) == 0 || string(r.DebugContext) == "null" {
		return ""
	}
	return string(r.DebugContext)
}

// buildEvent is the event Okta sends (SPEC 1.2 to 1.4): no user or session without an end
// user, no identity without an ID token, refresh_token when one is issued or redeemed. A
// refresh_token grant carries OriginalGrant, the request that got the token; it has no session
// (the stricter reading: a refresh token outlives the session it came from, and whether Okta
// sends one then is unconfirmed).
func (s *Sim) buildEvent(r *http.Request, req *tokenRequest, policy Policy, rule Rule, now time.Time, id, access *draftToken, refresh *refreshGrant) *hookEvent {
	base := baseURL(r)
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	ctx := eventContext{
		Request: &eventRequest{
			ID:        req.requestID,
			Method:    r.Method,
			URL:       eventURL{Value: base + r.URL.RequestURI()},
			IPAddress: ip,
		},
		Protocol: &eventProtocol{
			Type:    "OAUTH2.0",
			Request: req.protocolRequest(),
			Issuer:  eventIssuer{URI: req.issuer},
			Client:  eventClient{ID: req.client.ClientID, Name: req.client.Name, Type: req.client.clientType()},
		},
		Policy: &eventPolicy{ID: policy.ID, Rule: eventRef{ID: rule.ID}},
	}
	if g := req.refresh; g != nil {
		ctx.Protocol.OriginalGrant = &eventOriginalGrant{Authorization: g.original, RefreshToken: eventRefreshToken{JTI: g.jti}}
	}
	if u := req.user; u != nil && req.refresh == nil {
		ctx.Session = &eventSession{
			ID:                       req.session.id,
			UserID:                   u.ID,
			Login:                    u.Login,
			CreatedAt:                formatTime(req.session.created),
			ExpiresAt:                formatTime(req.session.created.Add(sessionLifetime)),
			Status:                   StatusActive,
			LastPasswordVerification: formatTime(req.session.created),
			AMR:                      []string{"PASSWORD"},
			IDP:                      eventIDP{ID: s.mint.idpID, Type: "OKTA"},
		}
	}
	if u := req.user; u != nil {
		ctx.User = &eventUser{
			ID:              u.ID,
			PasswordChanged: formatTime(u.Created),
			Profile: eventUserProfile{Login: u.Login, FirstName: u.FirstName, LastName: u.LastName,
				Locale: u.Locale, TimeZone: u.TimeZone},
			Links: map[string]eventHref{
				"groups":  {Href: base + "/api/v1/users/" + u.ID + "/groups"},
				"factors": {Href: base + "/api/v1/users/" + u.ID + "/factors"},
			},
		}
	}
	scopes := map[string]eventScope{}
	for _, sc := range req.scopes {
		scopes[sc] = eventScope{ID: scopeID(req.authServer.ID, sc), Action: "GRANT"}
	}
	data := eventData{
		Context: ctx,
		Access: &eventToken{Claims: access.claims, Scopes: scopes,
			Token: eventTokenInfo{Lifetime: eventLifetime{Expiration: access.lifetime}}},
	}
	if refresh != nil {
		data.RefreshToken = &eventRefreshToken{JTI: refresh.jti}
	}
	if id != nil {
		data.Identity = &eventToken{Claims: id.claims,
			Token: eventTokenInfo{Lifetime: eventLifetime{Expiration: id.lifetime}}}
	}
	return &hookEvent{
		Source:            req.issuer + "/v1/token",
		EventID:           s.mint.ids.random(22),
		EventTime:         formatTime(now),
		EventTypeVersion:  "1.0",
		CloudEventVersion: "0.1",
		ContentType:       "application/json",
		EventType:         HookTypeToken,
		Data:              data,
	}
}

// scopeID is a stable scp… ID for a scope of an authorization server.
func scopeID(authServerID, scope string) string {
	return newIDSource(int64(hashString(authServerID)), "scope:"+scope).id(prefixScope)
}

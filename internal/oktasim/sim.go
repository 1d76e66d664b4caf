package oktasim

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultHookLimit is the number of inline hooks an org may have, per Okta's API reference
// (newer pages say 100).
const DefaultHookLimit = 50

// DefaultHookKeyLimit is the number of hook keys an org may have: "The total number of keys
// that you can create in an Okta org is limited to 50." (management OpenAPI, createHookKey)
const DefaultHookKeyLimit = 50

// Options configure a simulator.
type Options struct {
	// Token is the API token accepted as "Authorization: SSWS <Token>". Empty accepts none, so
	// only service apps (AddServiceApp) can call the API.
	Token string
	// HookLimit caps the inline hooks of the org; 0 selects DefaultHookLimit.
	HookLimit int
	// HookKeyLimit caps the hook keys (/api/v1/hook-keys) of the org; 0 selects
	// DefaultHookKeyLimit.
	HookKeyLimit int
	// RateLimitPerMinute answers 429 once the /api/v1 requests of a one-minute window exceed it;
	// 0 turns rate limiting off (the X-Rate-Limit-* headers are sent anyway).
	RateLimitPerMinute int
	// Seed makes IDs and injected faults reproducible.
	Seed int64
	// Now is the clock; nil selects time.Now.
	Now func() time.Time
	// Logf, if set, receives one line per request and server errors.
	Logf func(format string, args ...any)

	// HookClient calls token inline hooks (tests pass one that trusts their TLS server); nil
	// selects a default client. Redirects are never followed, whatever the client says.
	HookClient *http.Client
	// HookTimeout bounds each token inline hook call; 0 selects DefaultHookTimeout (3 s, as
	// Okta). Calls are never retried.
	HookTimeout time.Duration
}

// Sim is an in-memory Okta org served over HTTP: the management API endpoints the operator uses
// (inline hooks; authorization servers, policies and rules), with Okta's validation, error bodies,
// rate limit headers and API token or service app authentication, plus fault injection and a call
// log for tests. The real okta-sdk-golang/v2 client talks to it unmodified.
//
// A Sim is an http.Handler; StartTLS, Start and Listen serve it on a loopback listener. It is safe
// for concurrent use.
type Sim struct {
	opts   Options
	now    func() time.Time
	org    *org
	routes []route
	limit  *rateLimiter
	faults *faultTable
	calls  *callLog
	oauth  *oauthState
	reqIDs *idSource
	mint   *mintState
}

// New returns a simulator holding a new org: the authorization server "default" with its
// "Default Policy" and "Default Policy Rule".
func New(opts Options) *Sim {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	limit := opts.HookLimit
	if limit <= 0 {
		limit = DefaultHookLimit
	}
	keyLimit := opts.HookKeyLimit
	if keyLimit <= 0 {
		keyLimit = DefaultHookKeyLimit
	}
	o := newOrg(now, newIDSource(opts.Seed, "ids"), limit)
	o.keyIDs, o.hookKeyLimit = newIDSource(opts.Seed, "hook-keys"), keyLimit // their own stream: other IDs stay as they were
	return &Sim{
		opts:   opts,
		now:    now,
		org:    o,
		routes: routes(),
		limit:  &rateLimiter{perMinute: opts.RateLimitPerMinute},
		faults: newFaultTable(opts.Seed),
		calls:  &callLog{},
		oauth:  newOAuthState(),
		reqIDs: newIDSource(opts.Seed, "requests"),
		mint:   newMintState(opts, now),
	}
}

// ServeHTTP answers one API request. In order: request ID and rate limit headers, injected
// faults, the rate limit, authentication, the endpoint. Every request lands in the call log.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	now := s.now()
	rt, p, status := match(s.routes, r.Method, r.URL.Path)
	call := Call{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Endpoint: rt.name,
		Time: now, RequestID: s.reqIDs.random(27), RetryFor: r.Header.Get("X-Okta-Retry-For"),
	}
	if rt.scope == "" && rt.name != "" {
		call.Query = "" // the token request carries the client assertion there
	}
	rec := &statusWriter{ResponseWriter: w}
	h := w.Header()
	h.Set("X-Okta-Request-Id", call.RequestID)
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	rl := s.limit.take(now, strings.HasPrefix(r.URL.Path, "/api/"))
	rl.setHeaders(h)

	finish := func() {
		call.Status = rec.status
		call.Duration = time.Since(start)
		s.calls.add(call)
		if s.opts.Logf != nil {
			s.opts.Logf("oktasim: %s %s -> %d %s", r.Method, r.URL.Path, call.Status, call.Fault)
		}
	}

	if status == http.StatusOK {
		if answered, drop := s.injectFault(rec, r, rt, now, &call.Fault); answered {
			finish()
			if drop {
				// The server closes the connection without a response (HTTP/1) or resets
				// the stream (HTTP/2), and does not log it.
				panic(http.ErrAbortHandler)
			}
			return
		}
	}

	switch {
	case !rl.allowed:
		s.writeError(rec, errRateLimited())
	case status == http.StatusNotFound:
		s.writeError(rec, &Error{Status: http.StatusNotFound, Code: CodeNotFound,
			Summary: "Not found: Resource not found: " + r.URL.Path + " (" + r.Method + ")"})
	case status == http.StatusMethodNotAllowed:
		s.writeError(rec, errMethodNotAllowed())
	default:
		if err := s.authenticate(rec, r, rt); err != nil {
			s.writeError(rec, err)
			break
		}
		rt.handle(s, rec, r, p)
	}
	finish()
}

// injectFault applies the faults drawn for rt and records them in fault. answered means the
// request got its fault instead of an answer (or gave up waiting); drop means the caller must
// drop the connection.
func (s *Sim) injectFault(w http.ResponseWriter, r *http.Request, rt route, now time.Time, fault *string) (answered, drop bool) {
	d := s.faults.draw(rt)
	if d.latency > 0 {
		*fault = FaultLatency
		if !sleep(r, d.latency) {
			*fault = FaultLatency + "+canceled"
			return true, false
		}
	}
	switch d.kind {
	case FaultDrop:
		*fault = d.kind
		return true, true
	case FaultServerError:
		*fault = d.kind
		s.writeError(w, errInternal())
		return true, false
	case FaultRateLimit:
		*fault = d.kind
		// Like a concurrent-limit 429: no budget left, try again in a second.
		h := w.Header()
		h.Set("X-Rate-Limit-Limit", "0")
		h.Set("X-Rate-Limit-Remaining", "0")
		h.Set("X-Rate-Limit-Reset", strconv.FormatInt(now.Unix()+1, 10))
		s.writeError(w, errRateLimited())
		return true, false
	}
	return false, false
}

// authenticate checks "SSWS <token>" or a "Bearer" token from the token endpoint with the
// scope the route needs (.read for reads, .manage for both).
func (s *Sim) authenticate(w http.ResponseWriter, r *http.Request, rt route) *Error {
	if rt.scope == "" {
		return nil
	}
	authz := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(authz, "SSWS "); ok {
		if s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) == 1 {
			return nil
		}
		return errInvalidToken()
	}
	if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
		scopes, valid := s.oauth.lookup(tok, s.now())
		if !valid {
			w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+baseURL(r)+`/oauth2/v1/authorize", realm="IdP", scope="`+rt.scope+`.read", error="invalid_token", error_description="The token is not valid."`)
			return errInvalidToken()
		}
		want := []string{rt.scope + ".manage"}
		if !rt.write() {
			want = append(want, rt.scope+".read")
		}
		for _, sc := range scopes {
			for _, wnt := range want {
				if sc == wnt {
					return nil
				}
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="`+baseURL(r)+`/oauth2/v1/authorize", realm="IdP", scope="`+want[0]+`", error="insufficient_scope", error_description="The access token provided does not contain the required scopes."`)
		return errForbidden()
	}
	return errInvalidToken()
}

// baseURL is the org URL as the client addressed it, for _links and token audiences.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Sim) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(marshal(v))
}

func (s *Sim) writeError(w http.ResponseWriter, e *Error) {
	body := errorBody{ErrorCode: e.Code, ErrorSummary: e.Summary, ErrorLink: e.Code,
		ErrorID: prefixErrorID + s.reqIDs.random(22), ErrorCauses: []errorCause{}}
	for _, c := range e.Causes {
		body.ErrorCauses = append(body.ErrorCauses, errorCause{ErrorSummary: c})
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(e.Status)
	_, _ = w.Write(marshal(body))
}

// writeResult answers with v, or with err as Okta would.
func (s *Sim) writeResult(w http.ResponseWriter, status int, v any, err *Error) {
	if err != nil {
		s.writeError(w, err)
		return
	}
	s.writeJSON(w, status, v)
}

// noContent answers 204 with no body, or err.
func (s *Sim) noContent(w http.ResponseWriter, err *Error) {
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

const maxBody = 1 << 20

// decode reads a JSON body; a malformed one is Okta's E0000003.
func decode(r *http.Request, v any) *Error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return errMalformed()
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errMalformed()
	}
	return nil
}

// sleep waits d or until the client gives up; false if it gave up.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

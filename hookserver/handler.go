// Package hookserver is the service Okta calls for every token its
// authorization server mints: it answers a token inline hook event with the
// commands that add the user's patient ID as a claim.
//
// Okta issues the token unmodified after any answer but 200, and issues no token
// at all after a 200 with an error object, so the handler answers 200 only with
// commands, or, when the user asked to deny non-patients, with that error.
// Patient data (logins, patient IDs), tokens and secrets never reach the logs.
package hookserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/tokenhook/tokenhook/hookserver/internal/jsoncompat"
	"github.com/tokenhook/tokenhook/hookserver/patients"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// Defaults of HandlerConfig.
const (
	DefaultPath         = "/tokenHook" // the path of Okta's guide
	DefaultAuthHeader   = "Authorization"
	DefaultClaim        = "patientID"
	DefaultMaxBodyBytes = 1 << 20

	// DenySummary is the errorSummary of a denied login; Okta shows it to the
	// client as error_description. It says nothing about the user.
	DenySummary = "This user is not authorized for this application."
	// UnavailableSummary refuses a login in deny mode while no patient list
	// is loaded: nobody can be told apart, so nobody gets a token.
	UnavailableSummary = "Sign-in is temporarily unavailable. Try again shortly."
)

// HandlerConfig configures the hook endpoint.
type HandlerConfig struct {
	// Claim is the name of the claim that carries the patient ID.
	Claim string
	// Tokens are the tokens to add the claim to, when Okta mints them.
	Tokens []protocol.Token
	// DenyNonPatients answers a user who is not a patient with an error, which
	// makes Okta refuse the token. Calls with no end user are never denied.
	DenyNonPatients bool
	// AuthHeader is the header carrying the shared secret.
	AuthHeader string
	// AuthMode says which credentials are accepted (default AuthModeHeader).
	AuthMode AuthMode
	// Bearer verifies OAuth 2.0 access tokens; required in AuthModeOAuth and
	// AuthModeBoth, unused in AuthModeHeader.
	Bearer BearerVerifier
	// MaxBodyBytes bounds the event size; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int
}

// PatientSource gives the patient list in force, nil until one is loaded.
type PatientSource interface {
	Current() *patients.List
}

// Authenticator checks the shared secret. It may be nil in AuthModeOAuth.
type Authenticator interface {
	Valid(secret string) bool
}

// Handler answers token inline hook calls.
type Handler struct {
	cfg        HandlerConfig
	authHeader string // canonical form, for direct header map access
	patients   PatientSource
	auth       Authenticator // nil unless the mode accepts the secret
	metrics    *Metrics
	log        *slog.Logger
	// responses[mask] is the answer for a patient, by the tokens to patch
	// (bit 0: ID token, bit 1: access token); nil when the mask is not configured.
	responses [4]*responseTemplate
	denied    []byte
	// deniedNotReady is deny mode's answer while no patient list is loaded.
	deniedNotReady []byte
	bufs           sync.Pool

	bearer BearerVerifier // nil unless the mode accepts tokens
	// unauthorized is the answer to every unauthorized call, whatever the reason.
	unauthorized string
}

// NewHandler returns the hook handler. metrics and log may be nil.
func NewHandler(cfg HandlerConfig, pts PatientSource, auth Authenticator, metrics *Metrics, log *slog.Logger) (*Handler, error) {
	if cfg.AuthHeader == "" {
		cfg.AuthHeader = DefaultAuthHeader
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if len(cfg.Tokens) == 0 {
		return nil, errors.New("no token to add the claim to")
	}
	if err := protocol.ValidateClaimName(cfg.Claim, cfg.Tokens); err != nil {
		return nil, err
	}
	if cfg.AuthMode == "" {
		cfg.AuthMode = AuthModeHeader
	}
	if _, err := ParseAuthMode(string(cfg.AuthMode)); err != nil {
		return nil, err
	}
	if !cfg.AuthMode.header() {
		auth = nil
	}
	if !cfg.AuthMode.oauth() {
		cfg.Bearer = nil
	}
	switch {
	case pts == nil:
		return nil, errors.New("a patient source is required")
	case cfg.AuthMode.header() && auth == nil:
		return nil, fmt.Errorf("auth mode %s needs an authenticator", cfg.AuthMode)
	case cfg.AuthMode.oauth() && cfg.Bearer == nil:
		return nil, fmt.Errorf("auth mode %s needs a bearer token verifier", cfg.AuthMode)
	}
	if metrics == nil {
		metrics = NewMetrics()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		cfg:        cfg,
		authHeader: textproto.CanonicalMIMEHeaderKey(cfg.AuthHeader),
		patients:   pts,
		auth:       auth,
		metrics:    metrics,
		log:        log,

		bearer:       cfg.Bearer,
		unauthorized: unauthorizedMessage(cfg.AuthMode, cfg.AuthHeader),
	}
	for mask := 1; mask < 4; mask++ {
		var cmdTokens []protocol.Token
		for i, t := range protocol.AllTokens {
			if mask&(1<<i) != 0 && configured(cfg.Tokens, t) {
				cmdTokens = append(cmdTokens, t)
			}
		}
		if len(cmdTokens) > 0 {
			tmpl, err := newResponseTemplate(cfg.Claim, cmdTokens)
			if err != nil {
				return nil, err
			}
			h.responses[mask] = tmpl
		}
	}
	denied, err := json.Marshal(protocol.Response{Error: &protocol.Error{ErrorSummary: DenySummary}})
	if err != nil {
		return nil, fmt.Errorf("encode deny response: %w", err)
	}
	h.denied = denied
	if h.deniedNotReady, err = json.Marshal(protocol.Response{Error: &protocol.Error{ErrorSummary: UnavailableSummary}}); err != nil {
		return nil, fmt.Errorf("encode deny response: %w", err)
	}
	h.bufs.New = func() any { b := make([]byte, 0, 8<<10); return &b }
	return h, nil
}

func configured(ts []protocol.Token, t protocol.Token) bool {
	for _, c := range ts {
		if c == t {
			return true
		}
	}
	return false
}

// Shared header values: net/http only reads them, and they save an allocation per call.
var (
	contentTypeJSON = []string{"application/json"}
	noStore         = []string{"no-store"}
	allowPost       = []string{http.MethodPost}
)

// maxLoggedEventID bounds what an authenticated caller can put in a log line.
const maxLoggedEventID = 64

// ServeHTTP answers one hook call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	bufp := h.bufs.Get().(*[]byte)
	o, eventID := h.serve(w, r, bufp)
	end := time.Now()
	took := end.Sub(start)
	h.metrics.observeCall(o, took)
	level := slog.LevelInfo
	if o.status() >= 400 {
		level = slog.LevelWarn
	}
	if h.log.Enabled(r.Context(), level) {
		h.logCall(r, end, level, o, eventID, took)
	}
	// eventID aliases the buffer: release it only now. Huge buffers are dropped.
	if cap(*bufp) <= 64<<10 {
		*bufp = (*bufp)[:0]
		h.bufs.Put(bufp)
	}
}

// logCall logs one call: never the body, only its eventId (to correlate with
// Okta's System Log), the outcome and the latency.
//
// The line is a third of the handler's own CPU under load, so it is kept
// cheap: the record is handed to the handler directly, with the time the
// call ended, where Logger.LogAttrs would read the clock again and capture
// the caller's PC for a source no handler here prints; and the latency is
// an integer, which the JSON handler appends in place, where it formats a
// float through encoding/json.
func (h *Handler) logCall(r *http.Request, end time.Time, level slog.Level, o outcome, eventID []byte, took time.Duration) {
	rec := slog.NewRecord(end, level, "Token hook call", 0)
	if len(eventID) > 0 {
		rec.AddAttrs(slog.String("eventId", string(eventID[:min(len(eventID), maxLoggedEventID)])))
	}
	rec.AddAttrs(
		slog.String("outcome", o.String()),
		slog.Int("status", o.status()),
		slog.Int64("latencyUs", took.Microseconds()))
	if level > slog.LevelInfo {
		rec.AddAttrs(slog.String("remote", r.RemoteAddr))
	}
	_ = h.log.Handler().Handle(r.Context(), rec)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, bufp *[]byte) (outcome, []byte) {
	if r.Method != http.MethodPost {
		w.Header()["Allow"] = allowPost
		return h.fail(w, outcomeMethodNotAllowed, "method_not_allowed", "Okta calls token inline hooks with POST."), nil
	}
	if reason := h.authenticate(r); reason != "" {
		h.metrics.observeAuthFailure(reason)
		if h.bearer != nil {
			w.Header()["Www-Authenticate"] = bearerChallenge
		}
		return h.fail(w, outcomeUnauthorized, "unauthorized", h.unauthorized), nil
	}
	if !isJSON(r.Header["Content-Type"]) {
		return h.fail(w, outcomeUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json."), nil
	}
	body, err := readBody(r, *bufp, h.cfg.MaxBodyBytes)
	*bufp = body[:0]
	if errors.Is(err, errTooLarge) {
		return h.fail(w, outcomeBodyTooLarge, "body_too_large", fmt.Sprintf("The event is larger than %d bytes.", h.cfg.MaxBodyBytes)), nil
	}
	if err != nil {
		return h.fail(w, outcomeMalformedEvent, "malformed_event", "Could not read the request body."), nil
	}
	ev, err := protocol.ReadSummary(body)
	if err != nil {
		return h.fail(w, outcomeMalformedEvent, "malformed_event", "The body is not a valid token hook event: "+publicReason(err)), nil
	}
	if string(ev.EventType) != protocol.EventType {
		return h.fail(w, outcomeWrongEventType, "wrong_event_type", "eventType must be "+protocol.EventType+"."), ev.EventID
	}
	if nonce, ok := protocol.ProbeNonce(&ev); ok {
		// The operator's route check, relayed by Okta's execute API.
		out, err := json.Marshal(protocol.ProbeResponse(string(nonce)))
		if err != nil {
			return h.fail(w, outcomeMalformedEvent, "malformed_event", "Could not answer the route check."), ev.EventID
		}
		return h.write(w, outcomeRouteCheck, out), ev.EventID
	}
	if !ev.HasEndUser() {
		return h.noContent(w, outcomeNoEndUser), ev.EventID
	}
	list := h.patients.Current()
	if list == nil {
		// Okta issues the token unmodified on any answer but a 200, so deny
		// mode must refuse with a 200 and an error object: fail closed.
		if h.cfg.DenyNonPatients {
			return h.write(w, outcomeDeniedNotReady, h.deniedNotReady), ev.EventID
		}
		return h.fail(w, outcomeNotReady, "not_ready", "The patient list is not loaded yet."), ev.EventID
	}
	patientID, ok := list.LookupBytes(ev.Login())
	if !ok {
		if h.cfg.DenyNonPatients {
			return h.write(w, outcomeDenied, h.denied), ev.EventID
		}
		return h.noContent(w, outcomeNotPatient), ev.EventID
	}
	mask := 0
	if ev.HasIDToken {
		mask |= 1
	}
	if ev.HasAccessToken {
		mask |= 2
	}
	tmpl := h.responses[mask]
	if tmpl == nil {
		// None of the configured tokens is minted in this call; a command for
		// another token would make Okta reject the whole patch.
		return h.noContent(w, outcomeNoTokenToPatch), ev.EventID
	}
	// The body buffer is free again: ev's slices are only read by the log
	// line, and eventId sits before the spare capacity used here.
	out := tmpl.append(body[len(body):], patientID)
	return h.write(w, outcomePatient, out), ev.EventID
}

func (h *Handler) write(w http.ResponseWriter, o outcome, body []byte) outcome {
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeJSON
	hdr["Cache-Control"] = noStore
	w.WriteHeader(o.status())
	_, _ = w.Write(body)
	return o
}

func (h *Handler) noContent(w http.ResponseWriter, o outcome) outcome {
	w.WriteHeader(o.status())
	return o
}

// fail answers with a JSON error. Okta ignores the body of a non-200 answer; it
// is for people reading the hook's responses.
func (h *Handler) fail(w http.ResponseWriter, o outcome, code, message string) outcome {
	body, _ := json.Marshal(errorBody{Code: code, Summary: message})
	return h.write(w, o, body)
}

type errorBody struct {
	Code    string `json:"errorCode"`
	Summary string `json:"errorSummary"`
}

// publicReason describes a decode error; it quotes at most one character of the body.
func publicReason(err error) string {
	var se *jsoncompat.SyntaxError
	var te *protocol.TypeError
	switch {
	case errors.As(err, &se):
		return se.Error()
	case errors.As(err, &te):
		return te.Error()
	case errors.Is(err, protocol.ErrNotObject):
		return protocol.ErrNotObject.Error()
	}
	return "unreadable event"
}

func isJSON(values []string) bool {
	if len(values) != 1 {
		return false
	}
	mt := values[0]
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

var errTooLarge = errors.New("request body too large")

// readBody reads the body into buf (reusing its capacity), up to limit bytes.
func readBody(r *http.Request, buf []byte, limit int) ([]byte, error) {
	if r.ContentLength > int64(limit) {
		return buf[:0], errTooLarge
	}
	// Room for the body and for the answer appended after it.
	want := 4 << 10
	if r.ContentLength > 0 {
		want = int(r.ContentLength) + 1<<10
	}
	if cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):min(cap(buf), limit+1)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf[:0], errTooLarge
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf[:0], err
		}
	}
}

// responseTemplate is a patient's answer with the patient ID left out: the
// JSON of a protocol.Response, split where the ID goes.
type responseTemplate struct {
	parts [][]byte
}

// idPlaceholder marks where the patient ID goes; JSON encodes it as "\u0000".
const idPlaceholder = "\x00"

func newResponseTemplate(claim string, tokens []protocol.Token) (*responseTemplate, error) {
	var resp protocol.Response
	for _, t := range tokens {
		resp.Commands = append(resp.Commands, protocol.AddClaim(t, claim, idPlaceholder))
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("encode response template: %w", err)
	}
	return &responseTemplate{parts: bytes.Split(b, []byte(`"\u0000"`))}, nil
}

func (t *responseTemplate) append(dst []byte, patientID string) []byte {
	dst = append(dst, t.parts[0]...)
	for _, p := range t.parts[1:] {
		dst = appendJSONString(dst, patientID)
		dst = append(dst, p...)
	}
	return dst
}

// appendJSONString appends s as encoding/json would encode it.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // rare: let encoding/json escape it
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

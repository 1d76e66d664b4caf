package hookserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenhook/tokenhook/hookserver/internal/auth"
	"github.com/tokenhook/tokenhook/hookserver/internal/race"
	"github.com/tokenhook/tokenhook/hookserver/patients"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

const (
	// testSecret is the secret of Okta's guide (admin:supersecret).
	testSecret = "Basic YWRtaW46c3VwZXJzZWNyZXQ="
	// The SPEC example's user.
	specLogin = "administrator1@clouditude.net"
)

// specEvent returns SPEC 1.5's event, edited by edit (a function of the decoded JSON).
func specEvent(t testing.TB, edit func(ev map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/token-hook-request.json")
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return b
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	edit(ev)
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// field returns the object at a dotted path of ev.
func field(ev map[string]any, path string) map[string]any {
	m := ev
	for _, k := range strings.Split(path, ".") {
		m = m[k].(map[string]any)
	}
	return m
}

// Edits of the SPEC event.
func withoutUser(ev map[string]any) { delete(field(ev, "data.context"), "user") }
func withoutIDToken(ev map[string]any) {
	delete(field(ev, "data"), "identity")
}
func withoutAccessToken(ev map[string]any) { delete(field(ev, "data"), "access") }
func withLogin(login string) func(map[string]any) {
	return func(ev map[string]any) { field(ev, "data.context.user.profile")["login"] = login }
}
func clientCredentials(ev map[string]any) {
	data := field(ev, "data")
	delete(data, "identity")
	ctx := field(ev, "data.context")
	delete(ctx, "user")
	delete(ctx, "session")
	field(ev, "data.context.protocol.request")["grant_type"] = "client_credentials"
	field(ev, "data.access.claims")["sub"] = "customClientIdNative"
}

// probeEvent is the operator's route check event with eventID.
func probeEvent(t testing.TB, eventID string) []byte {
	t.Helper()
	ev := protocol.ProbeEvent("x", "https://dev-1.okta.com/oauth2/default", "tokenhook")
	ev.EventID = eventID
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func all(edits ...func(map[string]any)) func(map[string]any) {
	return func(ev map[string]any) {
		for _, e := range edits {
			e(ev)
		}
	}
}

// fixedPatients is a PatientSource with a fixed list (nil: not loaded).
type fixedPatients struct{ list *patients.List }

func (f fixedPatients) Current() *patients.List { return f.list }

func mustParse(t testing.TB, csv string) *patients.List {
	t.Helper()
	l, err := patients.Parse([]byte(csv))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func secretsFromFiles(t testing.TB, contents ...string) *auth.Secrets {
	t.Helper()
	var files []string
	for i, c := range contents {
		f := filepath.Join(t.TempDir(), "secret"+string(rune('0'+i)))
		if err := os.WriteFile(f, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	s, err := auth.Load(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testPatients = "login,patientID\n" + specLogin + ",1235\njane.doe@example.com,\"P\"\"<&>\"\n"

func newTestHandler(t testing.TB, cfg HandlerConfig, list *patients.List) *Handler {
	t.Helper()
	if cfg.Claim == "" {
		cfg.Claim = DefaultClaim
	}
	if cfg.Tokens == nil {
		cfg.Tokens = []protocol.Token{protocol.IDToken}
	}
	h, err := NewHandler(cfg, fixedPatients{list}, secretsFromFiles(t, testSecret+"\n"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// hookRequest is a well-formed call from Okta with body.
func hookRequest(body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, DefaultPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Authorization", testSecret)
	return r
}

func addClaim(claim, id string, tokens ...protocol.Token) *protocol.Response {
	r := &protocol.Response{}
	for _, t := range tokens {
		r.Commands = append(r.Commands, protocol.AddClaim(t, claim, id))
	}
	return r
}

func TestHandler(t *testing.T) {
	list := mustParse(t, testPatients)
	bothTokens := []protocol.Token{protocol.IDToken, protocol.AccessToken}
	cases := map[string]struct {
		reason  string
		cfg     HandlerConfig
		list    *patients.List // default: list
		notLoad bool
		req     func(t *testing.T) *http.Request
		status  int
		want    *protocol.Response // the 200 body
		errCode string             // the errorCode of a 4xx/5xx body
	}{
		"SPEC example, a patient": {
			reason: "the guide's answer: add the claim to the ID token",
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, nil)) },
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.IDToken),
		},
		"configured claim name and both tokens": {
			cfg:    HandlerConfig{Claim: "extPatientId", Tokens: bothTokens},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, nil)) },
			status: http.StatusOK,
			want:   addClaim("extPatientId", "1235", protocol.IDToken, protocol.AccessToken),
		},
		"access token only configured": {
			cfg:    HandlerConfig{Tokens: []protocol.Token{protocol.AccessToken}},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, nil)) },
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.AccessToken),
		},
		"no command for a token not minted (ID token missing)": {
			reason: "a command for a token Okta did not mint makes it drop the whole patch",
			cfg:    HandlerConfig{Tokens: bothTokens},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, withoutIDToken)) },
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.AccessToken),
		},
		"no command for a token not minted (access token missing)": {
			cfg:    HandlerConfig{Tokens: bothTokens},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, withoutAccessToken)) },
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.IDToken),
		},
		"no configured token minted": {
			cfg:    HandlerConfig{Tokens: []protocol.Token{protocol.IDToken}},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, withoutIDToken)) },
			status: http.StatusNoContent,
		},
		"login matched case-insensitively": {
			req: func(t *testing.T) *http.Request {
				return hookRequest(specEvent(t, withLogin("ADMINISTRATOR1@Clouditude.NET")))
			},
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.IDToken),
		},
		"lookup order: profile login wins": {
			reason: "context.user.profile.login comes first, even when it is not a patient and preferred_username is",
			req: func(t *testing.T) *http.Request {
				return hookRequest(specEvent(t, withLogin("someone.else@example.com")))
			},
			status: http.StatusNoContent,
		},
		"lookup order: preferred_username without a user context": {
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, withoutUser)) },
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.IDToken),
		},
		"lookup order: access token sub last": {
			cfg:    HandlerConfig{Tokens: bothTokens},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, all(withoutUser, withoutIDToken))) },
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.AccessToken),
		},
		"patient ID escaped in JSON": {
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, withLogin("Jane.Doe@example.com"))) },
			status: http.StatusOK,
			want:   addClaim("patientID", `P"<&>`, protocol.IDToken),
		},
		"not a patient": {
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, withLogin("visitor@example.com"))) },
			status: http.StatusNoContent,
		},
		"not a patient, deny mode": {
			reason: "a 200 with an error object makes Okta refuse the token",
			cfg:    HandlerConfig{DenyNonPatients: true},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, withLogin("visitor@example.com"))) },
			status: http.StatusOK,
			want:   &protocol.Response{Error: &protocol.Error{ErrorSummary: DenySummary}},
		},
		"a patient, deny mode": {
			cfg:    HandlerConfig{DenyNonPatients: true},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, nil)) },
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.IDToken),
		},
		"client credentials": {
			reason: "no end user: nothing to add",
			cfg:    HandlerConfig{Tokens: bothTokens},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, clientCredentials)) },
			status: http.StatusNoContent,
		},
		"route check": {
			reason: "the operator's probe, relayed by Okta's execute API: 200 with the nonce, so it proves the route",
			cfg:    HandlerConfig{DenyNonPatients: true},
			req: func(t *testing.T) *http.Request {
				return hookRequest(probeEvent(t, protocol.ProbeEventIDPrefix+"n0nce-123"))
			},
			status: http.StatusOK,
			want:   &protocol.Response{Commands: []protocol.Command{protocol.AddClaim(protocol.AccessToken, protocol.ProbeClaim, "n0nce-123")}},
		},
		"route check without the auth secret": {
			req: func(t *testing.T) *http.Request {
				r := hookRequest(probeEvent(t, protocol.ProbeEventIDPrefix+"n0nce-123"))
				r.Header.Set("Authorization", "Basic wrong")
				return r
			},
			status:  http.StatusUnauthorized,
			errCode: "unauthorized",
		},
		"route check with a bad nonce is an ordinary machine call": {
			req: func(t *testing.T) *http.Request {
				return hookRequest(probeEvent(t, protocol.ProbeEventIDPrefix+"\"}"))
			},
			status: http.StatusNoContent,
		},
		"a user's event with the probe's eventId gets no route check answer": {
			reason: "only events without an end user can be probes, so a login is never answered with the probe",
			req: func(t *testing.T) *http.Request {
				return hookRequest(specEvent(t, func(ev map[string]any) {
					ev["eventId"] = protocol.ProbeEventIDPrefix + "n0nce-123"
					withLogin("visitor@example.com")(ev)
				}))
			},
			status: http.StatusNoContent,
		},
		"client credentials, deny mode": {
			reason: "deny mode denies users who are not patients, never machine clients",
			cfg:    HandlerConfig{Tokens: bothTokens, DenyNonPatients: true},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, clientCredentials)) },
			status: http.StatusNoContent,
		},
		"machine client without a grant type, deny mode": {
			reason: "no user, session, ID token or uid: the access token's sub is a client id, not a login",
			cfg:    HandlerConfig{Tokens: bothTokens, DenyNonPatients: true},
			req: func(t *testing.T) *http.Request {
				return hookRequest(specEvent(t, all(clientCredentials, func(ev map[string]any) {
					delete(field(ev, "data.context.protocol.request"), "grant_type")
					delete(field(ev, "data.access.claims"), "uid")
				})))
			},
			status: http.StatusNoContent,
		},
		"no login at all": {
			req: func(t *testing.T) *http.Request {
				return hookRequest([]byte(`{"eventType":"com.okta.oauth2.tokens.transform","data":{"identity":{"claims":{}}}}`))
			},
			status: http.StatusNoContent,
		},
		"patient list not loaded": {
			reason:  "without deny mode, Okta issues the token unmodified, as for any non-200",
			notLoad: true,
			req:     func(t *testing.T) *http.Request { return hookRequest(specEvent(t, nil)) },
			status:  http.StatusServiceUnavailable, errCode: "not_ready",
		},
		"patient list not loaded, deny mode": {
			reason:  "deny mode fails closed: a non-200 would make Okta issue the token unmodified",
			cfg:     HandlerConfig{DenyNonPatients: true},
			notLoad: true,
			req:     func(t *testing.T) *http.Request { return hookRequest(specEvent(t, withLogin("visitor@example.com"))) },
			status:  http.StatusOK,
			want:    &protocol.Response{Error: &protocol.Error{ErrorSummary: UnavailableSummary}},
		},
		"GET": {
			req: func(t *testing.T) *http.Request {
				r := hookRequest(nil)
				r.Method = http.MethodGet
				return r
			},
			status: http.StatusMethodNotAllowed, errCode: "method_not_allowed",
		},
		"no secret": {
			req: func(t *testing.T) *http.Request {
				r := hookRequest(specEvent(t, nil))
				r.Header.Del("Authorization")
				return r
			},
			status: http.StatusUnauthorized, errCode: "unauthorized",
		},
		"wrong secret": {
			req: func(t *testing.T) *http.Request {
				r := hookRequest(specEvent(t, nil))
				r.Header.Set("Authorization", testSecret+"x")
				return r
			},
			status: http.StatusUnauthorized, errCode: "unauthorized",
		},
		"secret sent twice": {
			req: func(t *testing.T) *http.Request {
				r := hookRequest(specEvent(t, nil))
				r.Header.Add("Authorization", testSecret)
				return r
			},
			status: http.StatusUnauthorized, errCode: "unauthorized",
		},
		"custom auth header": {
			cfg: HandlerConfig{AuthHeader: "x-okta-secret"},
			req: func(t *testing.T) *http.Request {
				r := hookRequest(specEvent(t, nil))
				r.Header.Del("Authorization")
				r.Header.Set("X-Okta-Secret", testSecret)
				return r
			},
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.IDToken),
		},
		"secret in the wrong header": {
			cfg:    HandlerConfig{AuthHeader: "X-Okta-Secret"},
			req:    func(t *testing.T) *http.Request { return hookRequest(specEvent(t, nil)) },
			status: http.StatusUnauthorized, errCode: "unauthorized",
		},
		"content type with charset": {
			req: func(t *testing.T) *http.Request {
				r := hookRequest(specEvent(t, nil))
				r.Header.Set("Content-Type", "Application/JSON; charset=UTF-8")
				return r
			},
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.IDToken),
		},
		"not JSON": {
			req: func(t *testing.T) *http.Request {
				r := hookRequest(specEvent(t, nil))
				r.Header.Set("Content-Type", "text/plain")
				return r
			},
			status: http.StatusUnsupportedMediaType, errCode: "unsupported_media_type",
		},
		"no content type": {
			req: func(t *testing.T) *http.Request {
				r := hookRequest(specEvent(t, nil))
				r.Header.Del("Content-Type")
				return r
			},
			status: http.StatusUnsupportedMediaType, errCode: "unsupported_media_type",
		},
		"body over 1 MiB": {
			req: func(t *testing.T) *http.Request {
				return hookRequest(bytes.Repeat([]byte(" "), DefaultMaxBodyBytes+1))
			},
			status: http.StatusRequestEntityTooLarge, errCode: "body_too_large",
		},
		"body over 1 MiB, chunked": {
			reason: "with no Content-Length, the limit applies while reading",
			req: func(t *testing.T) *http.Request {
				r := hookRequest(nil)
				r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(specEvent(t, nil)), strings.NewReader(strings.Repeat(" ", DefaultMaxBodyBytes))))
				r.ContentLength = -1
				return r
			},
			status: http.StatusRequestEntityTooLarge, errCode: "body_too_large",
		},
		"body of exactly 1 MiB": {
			req: func(t *testing.T) *http.Request {
				ev := specEvent(t, nil)
				return hookRequest(append(ev, bytes.Repeat([]byte(" "), DefaultMaxBodyBytes-len(ev))...))
			},
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.IDToken),
		},
		"malformed JSON": {
			req:    func(t *testing.T) *http.Request { return hookRequest([]byte(`{"eventType":`)) },
			status: http.StatusBadRequest, errCode: "malformed_event",
		},
		"JSON but not an object": {
			req:    func(t *testing.T) *http.Request { return hookRequest([]byte(`[1,2]`)) },
			status: http.StatusBadRequest, errCode: "malformed_event",
		},
		"empty body": {
			req:    func(t *testing.T) *http.Request { return hookRequest(nil) },
			status: http.StatusBadRequest, errCode: "malformed_event",
		},
		"wrong event type": {
			req: func(t *testing.T) *http.Request {
				return hookRequest(specEvent(t, func(ev map[string]any) { ev["eventType"] = "com.okta.saml.tokens.transform" }))
			},
			status: http.StatusBadRequest, errCode: "wrong_event_type",
		},
		"unknown fields ignored": {
			req: func(t *testing.T) *http.Request {
				return hookRequest(specEvent(t, func(ev map[string]any) {
					ev["newTopLevel"] = map[string]any{"x": []any{1, "y"}}
					field(ev, "data.context")["somethingNew"] = true
				}))
			},
			status: http.StatusOK,
			want:   addClaim("patientID", "1235", protocol.IDToken),
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			l := list
			if c.notLoad {
				l = nil
			}
			h := newTestHandler(t, c.cfg, l)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, c.req(t))
			res := w.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.status {
				t.Fatalf("status = %d (%s); want %d (%s)", res.StatusCode, body, c.status, c.reason)
			}
			switch c.status {
			case http.StatusNoContent:
				if len(body) != 0 {
					t.Errorf("204 with a body: %s", body)
				}
			case http.StatusOK:
				if ct := res.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q", ct)
				}
				var got protocol.Response
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("200 body %s: %v", body, err)
				}
				if diff := cmp.Diff(c.want, &got); diff != "" {
					t.Errorf("response (-want +got):\n%s\n%s", diff, c.reason)
				}
				if got.Error != nil && len(got.Commands) > 0 {
					t.Error("a response with both commands and an error")
				}
			default:
				var got errorBody
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatalf("error body %q is not JSON: %v", body, err)
				}
				if got.Code != c.errCode || got.Summary == "" {
					t.Errorf("error body = %+v; want errorCode %q and a summary", got, c.errCode)
				}
				if bytes.Contains(body, []byte(`"error"`)) {
					t.Errorf("error body %s uses Okta's error object", body)
				}
			}
			if c.status == http.StatusMethodNotAllowed && res.Header.Get("Allow") != http.MethodPost {
				t.Errorf("405 without Allow: POST")
			}
		})
	}
}

// TestHandlerResponseBytesMatchEncodingJSON checks the precomputed answer byte
// for byte against encoding/json, for IDs that need escaping.
func TestHandlerResponseBytesMatchEncodingJSON(t *testing.T) {
	for _, id := range []string{"1235", `a"b\c`, "<script>&", "tab\there", "caf\u00e9", "\u2028", "bad\xffutf8"} {
		for _, tokens := range [][]protocol.Token{{protocol.IDToken}, {protocol.AccessToken}, {protocol.IDToken, protocol.AccessToken}} {
			tmpl, err := newResponseTemplate("patientID", tokens)
			if err != nil {
				t.Fatal(err)
			}
			got := tmpl.append(nil, id)
			want, err := json.Marshal(addClaim("patientID", id, tokens...))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("id %q, tokens %v:\n got %s\nwant %s", id, tokens, got, want)
			}
		}
	}
}

func TestNewHandlerRefusesReservedClaim(t *testing.T) {
	_, err := NewHandler(HandlerConfig{Claim: "sub", Tokens: []protocol.Token{protocol.IDToken}},
		fixedPatients{}, secretsFromFiles(t, testSecret), nil, nil)
	if err == nil || !strings.Contains(err.Error(), `claim "sub" is reserved by Okta in the ID token`) {
		t.Errorf("NewHandler error = %v; want the reserved claim named, with the token", err)
	}
}

func TestHandlerAllocations(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts vary under the race detector")
	}
	h := newTestHandler(t, HandlerConfig{Tokens: []protocol.Token{protocol.IDToken, protocol.AccessToken}}, mustParse(t, testPatients))
	body := specEvent(t, nil)
	req := hookRequest(body)
	w := &discardWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(200, func() {
		req.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, req)
	})
	// The logger discards; the two left are the per-call body reader of this
	// test and the eventId string for the log.
	if allocs > 2 {
		t.Errorf("ServeHTTP allocates %v times per call; want at most 2", allocs)
	}
}

// discardWriter is a ResponseWriter with no cost, for measuring the handler alone.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(status int)      { d.status = status }

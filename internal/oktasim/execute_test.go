package oktasim

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestExecuteHook: POST /api/v1/inlineHooks/{id}/execute calls the hook through its channel
// with the body as given, retries once, and relays a 200's JSON or answers 400.
func TestExecuteHook(t *testing.T) {
	const payload = `{"eventType":"com.okta.oauth2.tokens.transform","eventId":"probe-1","data":{"context":{}}}`
	cases := []struct {
		name      string
		answer    func(n int32) http.HandlerFunc // n counts calls, from 1
		inactive  bool
		body      string
		status    int
		calls     int
		wantInErr string
	}{
		{name: "a 200 is relayed", answer: func(int32) http.HandlerFunc { return reply(`{"commands":[]}`) },
			status: http.StatusOK, calls: 1},
		{name: "a 404 is retried once, then a 400 says so",
			answer: func(int32) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }
			},
			status: http.StatusBadRequest, calls: 2, wantInErr: "answered 404"},
		{name: "an error answer then a good one",
			answer: func(n int32) http.HandlerFunc {
				if n == 1 {
					return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
				}
				return reply(`{}`)
			},
			status: http.StatusOK, calls: 2},
		{name: "a timeout is retried once",
			answer: func(int32) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) { time.Sleep(2 * testTimeout) }
			},
			status: http.StatusBadRequest, calls: 2, wantInErr: "no answer within"},
		{name: "a 204 is no response and is not retried",
			answer: func(int32) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }
			},
			status: http.StatusBadRequest, calls: 1, wantInErr: "answered 204"},
		{name: "an unparsable 200", answer: func(int32) http.HandlerFunc { return reply(`{"commands":`) },
			status: http.StatusBadRequest, calls: 1, wantInErr: "could not deserialize"},
		{name: "an inactive hook is not called", inactive: true, answer: func(int32) http.HandlerFunc { return reply(`{}`) },
			status: http.StatusBadRequest, calls: 0, wantInErr: "INACTIVE"},
		{name: "a body that is not a JSON object", body: `[1]`, answer: func(int32) http.HandlerFunc { return reply(`{}`) },
			status: http.StatusBadRequest, calls: 0, wantInErr: CodeMalformedBody},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newMintEnv(t)
			var n atomic.Int32
			env.hook.set(func(w http.ResponseWriter, r *http.Request) { tc.answer(n.Add(1))(w, r) })
			if tc.inactive {
				if w := call(t, env.sim, http.MethodPost, orgURL+"/api/v1/inlineHooks/"+env.hookID+"/lifecycle/deactivate", ""); w.Code != http.StatusOK {
					t.Fatalf("deactivate: %d %s", w.Code, w.Body)
				}
			}
			body := payload
			if tc.body != "" {
				body = tc.body
			}
			w := call(t, env.sim, http.MethodPost, orgURL+"/api/v1/inlineHooks/"+env.hookID+"/execute", body)
			if w.Code != tc.status {
				t.Fatalf("execute = %d %s, want %d", w.Code, w.Body, tc.status)
			}
			if tc.wantInErr != "" && !strings.Contains(w.Body.String(), tc.wantInErr) {
				t.Errorf("error body %s does not mention %q", w.Body, tc.wantInErr)
			}
			reqs := env.hook.requests()
			if len(reqs) != tc.calls {
				t.Fatalf("the hook was called %d times, want %d", len(reqs), tc.calls)
			}
			for _, r := range reqs {
				if string(r.Body) != body || r.Header.Get("Authorization") != hookSecret || r.Header.Get(hookHeader) != hookHeaderV {
					t.Errorf("the hook got %s with headers %v; want the payload as given, the channel's auth and headers", r.Body, r.Header)
				}
			}
			if len(env.sim.HookCalls()) != 0 {
				t.Errorf("an execute counted as a token hook call: %v", env.sim.HookCalls())
			}
		})
	}
	t.Run("an unknown hook", func(t *testing.T) {
		env := newMintEnv(t)
		if w := call(t, env.sim, http.MethodPost, orgURL+"/api/v1/inlineHooks/calnosuchhook0000000/execute", payload); w.Code != http.StatusNotFound {
			t.Errorf("execute = %d %s, want 404", w.Code, w.Body)
		}
	})
}

package oktasim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenhook/tokenhook/hookserver"
	"github.com/tokenhook/tokenhook/hookserver/patients"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// The token inline hook contract, run through both sides with Okta's documented examples: the
// simulator (its own wire types, hook_wire.go) and the hook server (hookserver/protocol and its
// handler). Neither side may agree with the other on anything Okta's examples contradict.

// oktaExampleEvent is Okta's example token inline hook request (OAS TokenPayLoadExample, SPEC 1.5).
func oktaExampleEvent(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/okta-token-hook-event.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonValue decodes b into generic JSON for comparison.
func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// TestSimulatorEventTypesCarryOktasExample proves the simulator's event types name every field
// of Okta's example as Okta does: decoding and re-encoding the example loses and adds nothing.
func TestSimulatorEventTypesCarryOktasExample(t *testing.T) {
	example := oktaExampleEvent(t)
	dec := json.NewDecoder(bytes.NewReader(example))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var e hookEvent
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("the simulator's types do not hold Okta's example: %v", err)
	}
	again, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jsonValue(t, example), jsonValue(t, again)); diff != "" {
		t.Errorf("re-encoded example differs from Okta's (-okta +simulator):\n%s", diff)
	}
}

// patientHandler is the real hook server handler with one patient, adding the claim to both
// tokens, authenticated with the test hook's secret.
func patientHandler(t *testing.T, deny bool) *hookserver.Handler {
	t.Helper()
	list, err := patients.Parse([]byte("login,patientID\n" + patientLogin + ",P-1\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := hookserver.NewHandler(hookserver.HandlerConfig{
		Claim:           hookserver.DefaultClaim,
		Tokens:          []protocol.Token{protocol.IDToken, protocol.AccessToken},
		DenyNonPatients: deny,
	}, fixedList{list}, sharedSecret(hookSecret), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type fixedList struct{ list *patients.List }

func (f fixedList) Current() *patients.List { return f.list }

type sharedSecret string

func (s sharedSecret) Valid(secret string) bool { return constantTimeEqual(secret, string(s)) }

// TestSimulatorEventsAgreeWithHookServer sends the simulator's events, for each grant it mints,
// to the real hook server handler: hookserver/protocol reads them as the simulator built them,
// and the handler's answer is applied by the simulator.
func TestSimulatorEventsAgreeWithHookServer(t *testing.T) {
	env := newMintEnv(t)
	cases := map[string]struct {
		form       url.Values
		basic      []string
		endUser    bool
		wantClaims []string // tokens that get the patient ID: "id", "access"
	}{
		"password, ID and access token": {form: password("openid profile"), endUser: true, wantClaims: []string{"id", "access"}},
		"password, access token only":   {form: password("profile"), endUser: true, wantClaims: []string{"access"}},
		"client credentials":            {form: clientCredentials("patients.read"), basic: []string{serviceApp, serviceKey}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env.hook.set(patientHandler(t, false).ServeHTTP)
			body := okTokens(t, tokenCall(t, env.sim, tc.form, tc.basic...))
			reqs := env.hook.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d hook calls", len(reqs))
			}
			sim := decodeEvent(t, reqs[0].Body)
			hs, err := protocol.DecodeEvent(reqs[0].Body)
			if err != nil {
				t.Fatalf("hookserver/protocol cannot decode the simulator's event: %v", err)
			}
			summary, err := protocol.ReadSummary(reqs[0].Body)
			if err != nil {
				t.Fatalf("hookserver/protocol cannot summarise the simulator's event: %v", err)
			}
			login := ""
			if sim.Data.Context.User != nil {
				login = sim.Data.Context.User.Profile.Login
			}
			checks := map[string][2]any{
				"eventType":     {hs.EventType, sim.EventType},
				"grant_type":    {hs.GrantType(), sim.Data.Context.Protocol.Request.GrantType},
				"has end user":  {hs.HasEndUser(), tc.endUser},
				"summary user":  {summary.HasEndUser(), tc.endUser},
				"ID token":      {hs.Has(protocol.IDToken), sim.Data.Identity != nil},
				"access token":  {hs.Has(protocol.AccessToken), sim.Data.Access != nil},
				"summary login": {string(summary.Login()), hs.Login()},
			}
			if tc.endUser {
				checks["login"] = [2]any{hs.Login(), login}
			}
			for what, c := range checks {
				if c[0] != c[1] {
					t.Errorf("%s: hook server reads %v, simulator built %v", what, c[0], c[1])
				}
			}
			calls := env.sim.HookCalls()
			if last := calls[len(calls)-1]; len(tc.wantClaims) > 0 && last.Outcome != HookApplied {
				t.Errorf("hook call = %+v, want applied", last)
			}
			tokens := map[string]string{"access": body.AccessToken, "id": body.IDToken}
			for kind, raw := range tokens {
				if raw == "" {
					continue
				}
				aud := "api://default"
				if kind == "id" {
					aud = publicApp
				}
				got := verify(t, env.sim, raw, aud)[hookserver.DefaultClaim]
				want := any(nil)
				if slices.Contains(tc.wantClaims, kind) {
					want = "P-1"
				}
				if got != want {
					t.Errorf("%s token %s = %v, want %v", kind, hookserver.DefaultClaim, got, want)
				}
			}
		})
	}
}

// TestHookServerDenialFailsTheTokenRequest: the handler's error object makes the simulator
// refuse the tokens with server_error and the handler's errorSummary, as Okta documents.
func TestHookServerDenialFailsTheTokenRequest(t *testing.T) {
	env := newMintEnv(t)
	env.hook.set(patientHandler(t, true).ServeHTTP)
	if _, err := env.sim.AddUser(UserSpec{Login: "mallory@example.com", Password: patientPass}); err != nil {
		t.Fatal(err)
	}
	form := password("openid")
	form.Set("username", "mallory@example.com")
	w := tokenCall(t, env.sim, form)
	got := decodeJSON[oauthErrorBody](t, w)
	if w.Code == http.StatusOK || got.Error != "server_error" || got.Description != hookserver.DenySummary {
		t.Errorf("denied login = %d %s, want server_error %q", w.Code, w.Body, hookserver.DenySummary)
	}
}

// Okta's example responses (OAS TokenHookResponse and the TokenHook* examples beside it, token
// inline hook reference), with the "Existing JSON" and "Updated JSON" the reference gives for
// each.
func TestOktaExampleResponsesApplyAsDocumented(t *testing.T) {
	const (
		addClaims = `{"commands":[
			{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/extPatientId","value":"1234"}]},
			{"type":"com.okta.access.patch","value":[{"op":"add","path":"/claims/external_guid","value":"F0384685-F87D-474B-848D-2058AC5655A7"}]}]}`
		modifyLifetime = `{"commands":[
			{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/token/lifetime/expiration","value":36000}]},
			{"type":"com.okta.access.patch","value":[{"op":"replace","path":"/token/lifetime/expiration","value":36000}]}]}`
		removeClaim = `{"commands":[
			{"type":"com.okta.identity.patch","value":[{"op":"remove","path":"/claims/birthdate","value":null}]},
			{"type":"com.okta.access.patch","value":[{"op":"remove","path":"/claims/external_guid"}]}]}`
		removeFromArray  = `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"remove","path":"/claims/preferred_airports/1"}]}]}`
		removeFromObject = `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"remove","path":"/claims/employee_profile/email"}]}]}`
		replaceExisting  = `{"commands":[{"type":"com.okta.identity.patch","value":[
			{"op":"replace","path":"/claims/extPatientId","value":"1234"},
			{"op":"replace","path":"/claims/external_guid","value":"F0384685-F87D-474B-848D-2058AC5655A7"}]}]}`
		replaceInPath = `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/claims/employee_profile/email","value":"anna@company.com"}]}]}`
		appendArray   = `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/preferred_airports/3","value":"lax"}]}]}`
		addToObject   = `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"add","path":"/claims/employee_profile/department_id","value":"4947"}]}]}`
	)
	profile := func(extra string) string {
		return `{"employee_id":"1234","name":"Anna"` + extra + `}`
	}
	type tokens struct {
		id, access     string // claims added to the example event's, as JSON objects
		noID           bool   // the request mints no ID token
		idLife, acLife int64
	}
	cases := map[string]struct {
		response string
		before   tokens
		after    *tokens // nil: Okta rejects the whole patch and the tokens stay as they were
	}{
		"add a claim": {response: addClaims,
			after: &tokens{id: `{"extPatientId":"1234"}`, access: `{"external_guid":"F0384685-F87D-474B-848D-2058AC5655A7"}`}},
		"modify token lifetime": {response: modifyLifetime, after: &tokens{idLife: 36000, acLife: 36000}},
		"remove claim": {response: removeClaim,
			before: tokens{id: `{"birthdate":"1990-01-01"}`, access: `{"external_guid":"x"}`}, after: &tokens{}},
		"remove from array": {response: removeFromArray,
			before: tokens{id: `{"preferred_airports":["sjc","lax","sfo","oak"]}`},
			after:  &tokens{id: `{"preferred_airports":["sjc","sfo","oak"]}`}},
		"remove from JSON object": {response: removeFromObject,
			before: tokens{id: `{"employee_profile":` + profile(`,"email":"anna.v@company.com"`) + `}`},
			after:  &tokens{id: `{"employee_profile":` + profile("") + `}`}},
		"replace an existing claim": {response: replaceExisting,
			before: tokens{id: `{"employeeId":"00u12345678","extPatientId":1234,"external_guid":"F0384685-F87D-474B-848D-2058AC5655A7"}`},
			after:  &tokens{id: `{"employeeId":"00u12345678","extPatientId":"1234","external_guid":"F0384685-F87D-474B-848D-2058AC5655A7"}`}},
		"replace within JSON object": {response: replaceInPath,
			before: tokens{id: `{"employee_profile":` + profile(`,"email":"anna.v@company.com"`) + `}`},
			after:  &tokens{id: `{"employee_profile":` + profile(`,"email":"anna@company.com"`) + `}`}},
		"append to array": {response: appendArray,
			before: tokens{id: `{"preferred_airports":["sjc","sfo","oak"]}`},
			after:  &tokens{id: `{"preferred_airports":["sjc","sfo","oak","lax"]}`}},
		"add new members to existing JSON objects": {response: addToObject,
			before: tokens{id: `{"employee_profile":` + profile("") + `}`},
			after:  &tokens{id: `{"employee_profile":` + profile(`,"department_id":"4947"`) + `}`}},

		// What the reference says fails "the entire PATCH".
		"remove a claim the token does not have":        {response: removeClaim},
		"replace a claim the token does not have":       {response: replaceExisting},
		"add a member to an object that does not exist": {response: addToObject},
		"add past the end of an array": {response: appendArray,
			before: tokens{id: `{"preferred_airports":["sjc"]}`}},
		"patch a token that is not requested": {response: addClaims, before: tokens{noID: true}},
		"remove with a value":                 {response: `{"commands":[{"type":"com.okta.access.patch","value":[{"op":"remove","path":"/claims/cid2","value":"x"}]}]}`, before: tokens{access: `{"cid2":"c"}`}},
		"modify a system claim":               {response: `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"replace","path":"/claims/iss","value":"https://evil.example"}]}]}`},
		"lifetime over 24 hours":              {response: `{"commands":[{"type":"com.okta.access.patch","value":[{"op":"replace","path":"/token/lifetime/expiration","value":86401}]}]}`},
	}
	var example hookEvent
	if err := json.Unmarshal(oktaExampleEvent(t), &example); err != nil {
		t.Fatal(err)
	}
	// draft builds the tokens of Okta's example event with extra claims.
	draft := func(t *testing.T, base *eventToken, extra string) *draftToken {
		t.Helper()
		claims := jsonClone(base.Claims)
		if extra != "" {
			for k, v := range jsonValue(t, []byte(extra)).(map[string]any) {
				claims[k] = v
			}
		}
		return &draftToken{claims: claims, lifetime: base.Token.Lifetime.Expiration}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := parseHookResponse([]byte(tc.response))
			if err != nil {
				t.Fatalf("Okta's example does not parse: %v", err)
			}
			var id *draftToken
			if !tc.before.noID {
				id = draft(t, example.Data.Identity, tc.before.id)
			}
			access := draft(t, example.Data.Access, tc.before.access)
			var wantID *draftToken
			if id != nil {
				wantID = id.clone()
			}
			wantAccess := access.clone()
			if tc.after != nil {
				wantID = draft(t, example.Data.Identity, tc.after.id)
				wantAccess = draft(t, example.Data.Access, tc.after.access)
				if tc.after.idLife != 0 {
					wantID.lifetime = tc.after.idLife
				}
				if tc.after.acLife != 0 {
					wantAccess.lifetime = tc.after.acLife
				}
			}
			err = applyCommands(resp.Commands, id, access)
			if (err == nil) != (tc.after != nil) {
				t.Fatalf("applyCommands = %v, want rejected: %t", err, tc.after == nil)
			}
			opts := cmp.AllowUnexported(draftToken{})
			if diff := cmp.Diff(wantID, id, opts); diff != "" {
				t.Errorf("ID token (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantAccess, access, opts); diff != "" {
				t.Errorf("access token (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOktaExampleErrorResponse: Okta's error example, and an error object without errorSummary,
// refuse the token request as a whole (server_error); a rejected patch still issues the tokens,
// unpatched.
func TestOktaExampleErrorResponse(t *testing.T) {
	cases := map[string]struct {
		answer   string
		wantCode int
		wantErr  string // error_description; "" for tokens
	}{
		"Okta's error example":     {answer: `{"error":{"errorSummary":"Human-readable summary of the error"}}`, wantCode: http.StatusBadRequest, wantErr: "Human-readable summary of the error"},
		"error without a summary":  {answer: `{"error":{}}`, wantCode: http.StatusBadRequest, wantErr: descHookErrorFallback},
		"error with debugContext":  {answer: `{"error":{"errorSummary":"no"},"debugContext":{"why":"test"}}`, wantCode: http.StatusBadRequest, wantErr: "no"},
		"patch rejected as whole":  {answer: `{"commands":[{"type":"com.okta.identity.patch","value":[{"op":"remove","path":"/claims/birthdate"}]}]}`, wantCode: http.StatusOK},
		"null error, empty answer": {answer: `{"error":null}`, wantCode: http.StatusOK},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env := newMintEnv(t)
			env.hook.set(reply(tc.answer))
			w := tokenCall(t, env.sim, password("openid profile"))
			if w.Code != tc.wantCode {
				t.Fatalf("token status = %d %s, want %d", w.Code, w.Body, tc.wantCode)
			}
			if tc.wantErr == "" {
				okTokens(t, w)
				return
			}
			if got := decodeJSON[oauthErrorBody](t, w); got.Error != "server_error" || got.Description != tc.wantErr {
				t.Errorf("error = %+v, want server_error %q", got, tc.wantErr)
			}
			if strings.Contains(w.Body.String(), "access_token") {
				t.Errorf("a refused request carries a token: %s", w.Body)
			}
		})
	}
}

// TestHookCallRecordsDebugContext: debugContext is recorded as Okta's System Log would.
func TestHookCallRecordsDebugContext(t *testing.T) {
	env := newMintEnv(t)
	env.hook.set(reply(`{"commands":[],"debugContext":{"lookup":"cache hit"}}`))
	okTokens(t, tokenCall(t, env.sim, password("openid")))
	calls := env.sim.HookCalls()
	if len(calls) != 1 || calls[0].DebugContext != `{"lookup":"cache hit"}` {
		t.Errorf("hook calls = %+v", calls)
	}
}

// TestSimulatorRefreshEventAgreesWithHookServer: hookserver/protocol reads a refresh grant's
// event, OriginalGrant and refresh_token included, as the simulator built it, and the handler
// patches the refreshed tokens.
func TestSimulatorRefreshEventAgreesWithHookServer(t *testing.T) {
	env := newRefreshEnv(t, nil, 0, 0)
	env.hook.set(patientHandler(t, false).ServeHTTP)
	rt := decodeJSON[refreshBody](t, tokenCall(t, env.sim, passwordFor(refreshApp, "openid profile offline_access"))).RefreshToken
	refreshed := okTokens(t, tokenCall(t, env.sim, refreshForm(refreshApp, rt)))
	reqs := env.hook.requests()
	body := reqs[len(reqs)-1].Body
	sim := decodeEvent(t, body)
	hs, err := protocol.DecodeEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	og := hs.Data.Context.Protocol.OriginalGrant
	if og == nil || og.RefreshToken == nil || og.Authorization == nil {
		t.Fatalf("hookserver/protocol reads no OriginalGrant in %s", body)
	}
	checks := map[string][2]any{
		"grant_type":                        {hs.GrantType(), GrantRefreshToken},
		"has end user":                      {hs.HasEndUser(), true},
		"login":                             {hs.Login(), patientLogin},
		"OriginalGrant.refresh_token.jti":   {og.RefreshToken.JTI, sim.Data.Context.Protocol.OriginalGrant.RefreshToken.JTI},
		"OriginalGrant.authorization.grant": {og.Authorization.GrantType, sim.Data.Context.Protocol.OriginalGrant.Authorization.GrantType},
		"data.refresh_token.jti":            {hs.Data.RefreshToken.JTI, sim.Data.RefreshToken.JTI},
		"refreshed access token patient ID": {verify(t, env.sim, refreshed.AccessToken, "api://default")[hookserver.DefaultClaim], "P-1"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: hook server reads %v, simulator built %v", what, c[0], c[1])
		}
	}
}

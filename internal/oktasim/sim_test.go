package oktasim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const token = "00sim-unit-test-token"

// call sends one request straight to the handler, authenticated with the API token unless
// headers say otherwise.
func call(t *testing.T, s *Sim, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("Authorization", "SSWS "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// oktaError decodes an Okta error body and checks its content type.
func oktaError(t *testing.T, w *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json;charset=UTF-8" {
		t.Errorf("error Content-Type = %q", ct)
	}
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return b
}

func decodeJSON[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return v
}

const validHook = `{"name":"patients","type":"com.okta.oauth2.tokens.transform","version":"1.0.0",
 "channel":{"type":"HTTP","version":"1.0.0","config":{"uri":"https://hooks.example.com/tokenHook",
 "headers":[{"key":"X-Owner","value":"ns/name"}],
 "authScheme":{"type":"HEADER","key":"Authorization","value":"Basic c2VjcmV0"}}}}`

// hookWith returns validHook with one replacement applied.
func hookWith(old, new string) string {
	if !strings.Contains(validHook, old) {
		panic("hookWith: " + old + " not in validHook")
	}
	return strings.Replace(validHook, old, new, 1)
}

func TestCreateHookValidation(t *testing.T) {
	cases := map[string]struct {
		body    string
		status  int
		code    string
		summary string
		cause   string
	}{
		"valid":                  {body: validHook, status: 200},
		"missing name":           {body: hookWith(`"name":"patients",`, ""), status: 400, code: CodeValidation, summary: "Api validation failed: name", cause: "name: The field cannot be left blank"},
		"http uri":               {body: hookWith("https://hooks", "http://hooks"), status: 400, code: CodeValidation, summary: "Api validation failed: channel.config.uri"},
		"uri with space":         {body: hookWith("tokenHook", "token Hook"), status: 400, code: CodeValidation, summary: "Api validation failed: channel.config.uri"},
		"unknown type":           {body: hookWith("com.okta.oauth2.tokens.transform", "com.example.nope"), status: 400, code: CodeValidation, summary: "Api validation failed: type"},
		"version":                {body: hookWith(`"version":"1.0.0",`+"\n", `"version":"2.0.0",`+"\n"), status: 400, code: CodeValidation, summary: "Api validation failed: version"},
		"GET method":             {body: hookWith(`"uri"`, `"method":"GET","uri"`), status: 400, code: CodeValidation, summary: "Api validation failed: channel.config.method"},
		"reserved header":        {body: hookWith("X-Owner", "Accept"), status: 400, code: CodeValidation, summary: "Api validation failed: channel.config.headers"},
		"secret missing":         {body: hookWith(`,"value":"Basic c2VjcmV0"`, ""), status: 400, code: CodeValidation, summary: "Api validation failed: channel.config.authScheme.value"},
		"auth scheme type":       {body: hookWith(`"type":"HEADER"`, `"type":"BASIC"`), status: 400, code: CodeValidation, summary: "Api validation failed: channel.config.authScheme.type"},
		"channel type":           {body: hookWith(`"type":"HTTP"`, `"type":"SMTP"`), status: 400, code: CodeValidation, summary: "Api validation failed: channel.type"},
		"OAUTH without settings": {body: hookWith(`"type":"HTTP"`, `"type":"OAUTH"`), status: 400, code: CodeValidation, summary: "Api validation failed: channel.config.authScheme, channel.config.tokenUrl, channel.config.clientId, channel.config.authType"},
		"several fields":         {body: `{"type":"com.okta.oauth2.tokens.transform","version":"1.0.0"}`, status: 400, code: CodeValidation, summary: "Api validation failed: name, channel.version, channel.config.uri, channel.type"},
		"malformed JSON":         {body: `{"name":`, status: 400, code: CodeMalformedBody, summary: "The request body was not well-formed."},
		"wrong JSON type":        {body: `{"name":5}`, status: 400, code: CodeMalformedBody},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := New(Options{Token: token})
			w := call(t, s, http.MethodPost, "/api/v1/inlineHooks", tc.body)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 200 {
				h := decodeJSON[hookOut](t, w)
				if h.Status != StatusActive || h.Channel.Config.Method != http.MethodPost {
					t.Errorf("created hook %+v, want ACTIVE with method POST", h)
				}
				return
			}
			b := oktaError(t, w)
			if b.ErrorCode != tc.code || b.ErrorLink != tc.code || !strings.HasPrefix(b.ErrorID, "oae") || b.ErrorCauses == nil {
				t.Errorf("error body %+v", b)
			}
			if tc.summary != "" && b.ErrorSummary != tc.summary {
				t.Errorf("errorSummary = %q, want %q", b.ErrorSummary, tc.summary)
			}
			if tc.cause != "" && (len(b.ErrorCauses) == 0 || b.ErrorCauses[0].ErrorSummary != tc.cause) {
				t.Errorf("errorCauses = %+v, want %q", b.ErrorCauses, tc.cause)
			}
			if len(s.Hooks()) != 0 {
				t.Error("a refused create stored a hook")
			}
		})
	}
}

func TestErrorBodyShape(t *testing.T) {
	s := New(Options{Token: token})
	w := call(t, s, http.MethodGet, "/api/v1/inlineHooks/calnope", "")
	if w.Code != 404 {
		t.Fatalf("status %d", w.Code)
	}
	var raw map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	delete(raw, "errorId")
	want := map[string]any{
		"errorCode":    "E0000007",
		"errorSummary": "Not found: Resource not found: calnope (InlineHook)",
		"errorLink":    "E0000007",
		"errorCauses":  []any{},
	}
	if diff := cmp.Diff(want, raw); diff != "" {
		t.Errorf("404 body (-want +got):\n%s", diff)
	}
	oktaError(t, w)
}

func TestRoutingErrors(t *testing.T) {
	s := New(Options{Token: token})
	cases := map[string]struct {
		method, path string
		status       int
		code         string
	}{
		"unknown path":     {http.MethodGet, "/api/v1/users", 404, CodeNotFound},
		"unknown method":   {http.MethodPatch, "/api/v1/inlineHooks", 405, CodeMethodNotAllowed},
		"unknown AS":       {http.MethodGet, "/api/v1/authorizationServers/nope/policies", 404, CodeNotFound},
		"unknown policy":   {http.MethodGet, "/api/v1/authorizationServers/default/policies/00pnope/rules", 404, CodeNotFound},
		"invalid type":     {http.MethodGet, "/api/v1/inlineHooks?type=nope", 400, CodeValidation},
		"token needs POST": {http.MethodGet, "/oauth2/v1/token", 405, CodeMethodNotAllowed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := call(t, s, tc.method, tc.path, "")
			if w.Code != tc.status || oktaError(t, w).ErrorCode != tc.code {
				t.Errorf("%s %s = %d %s", tc.method, tc.path, w.Code, w.Body)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	cases := map[string]struct {
		token  string // Options.Token
		header string
		status int
	}{
		"valid token":        {token: token, header: "SSWS " + token, status: 200},
		"wrong token":        {token: token, header: "SSWS nope", status: 401},
		"no header":          {token: token, header: "", status: 401},
		"other scheme":       {token: token, header: "Basic " + token, status: 401},
		"unknown bearer":     {token: token, header: "Bearer nope", status: 401},
		"no token accepted":  {token: "", header: "SSWS ", status: 401},
		"token is not a pfx": {token: token, header: "SSWS " + token + "x", status: 401},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := New(Options{Token: tc.token})
			w := call(t, s, http.MethodGet, "/api/v1/inlineHooks", "", "Authorization", tc.header)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d", w.Code, tc.status)
			}
			if tc.status == 401 {
				b := oktaError(t, w)
				if b.ErrorCode != CodeInvalidToken || b.ErrorSummary != "Invalid token provided" {
					t.Errorf("body %+v", b)
				}
			}
		})
	}
}

func TestHookLifecycleOverHTTP(t *testing.T) {
	s := New(Options{Token: token})
	w := call(t, s, http.MethodPost, "/api/v1/inlineHooks", validHook)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("create = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	h := decodeJSON[hookOut](t, w)
	if len(h.ID) != 20 || !strings.HasPrefix(h.ID, "cal") {
		t.Errorf("ID %q", h.ID)
	}
	if _, ok := h.Links["deactivate"]; !ok {
		t.Errorf("ACTIVE hook links %v lack deactivate", h.Links)
	}
	path := "/api/v1/inlineHooks/" + h.ID

	// Secrets never answered, by any endpoint.
	for _, w := range []*httptest.ResponseRecorder{
		w,
		call(t, s, http.MethodGet, path, ""),
		call(t, s, http.MethodGet, "/api/v1/inlineHooks", ""),
		call(t, s, http.MethodPut, path, validHook),
		call(t, s, http.MethodPost, path+"/lifecycle/activate", ""),
	} {
		if strings.Contains(w.Body.String(), "c2VjcmV0") || strings.Contains(w.Body.String(), `"value":"Basic`) {
			t.Errorf("response carries the secret: %s", w.Body)
		}
	}

	// In order: the rename must be the last write, as the check after the
	// loop reads the name.
	put := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{name: "type change", body: hookWith("com.okta.oauth2.tokens.transform", HookTypeImport), status: 400, field: "type"},
		{name: "secret left out", body: hookWith(`,"value":"Basic c2VjcmV0"`, ""), status: 400, field: "channel.config.authScheme.value"},
		{name: "type left out", body: hookWith(`"type":"com.okta.oauth2.tokens.transform",`, ""), status: 200},
		{name: "rename while ACTIVE", body: hookWith(`"name":"patients"`, `"name":"renamed"`), status: 200},
	}
	for _, tc := range put {
		t.Run(tc.name, func(t *testing.T) {
			w := call(t, s, http.MethodPut, path, tc.body)
			if w.Code != tc.status {
				t.Fatalf("PUT = %d %s", w.Code, w.Body)
			}
			if tc.status == 400 && oktaError(t, w).ErrorSummary != "Api validation failed: "+tc.field {
				t.Errorf("PUT error %s", w.Body)
			}
		})
	}
	stored, err := s.Hook(h.ID)
	if err != nil || stored.Name != "renamed" || stored.Status != StatusActive || stored.Type != HookTypeToken {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	if w := call(t, s, http.MethodDelete, path, ""); w.Code != 400 {
		t.Fatalf("delete ACTIVE = %d", w.Code)
	}
	w = call(t, s, http.MethodPost, path+"/lifecycle/deactivate", "")
	h = decodeJSON[hookOut](t, w)
	if w.Code != 200 || h.Status != StatusInactive {
		t.Fatalf("deactivate = %d %+v", w.Code, h)
	}
	if _, ok := h.Links["activate"]; !ok {
		t.Errorf("INACTIVE hook links %v lack activate", h.Links)
	}
	w = call(t, s, http.MethodDelete, path, "")
	if w.Code != 204 || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Fatalf("delete = %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if w := call(t, s, http.MethodGet, path, ""); w.Code != 404 {
		t.Fatalf("get after delete = %d", w.Code)
	}
}

func TestListHooksFiltersByType(t *testing.T) {
	s := New(Options{Token: token})
	call(t, s, http.MethodPost, "/api/v1/inlineHooks", validHook)
	call(t, s, http.MethodPost, "/api/v1/inlineHooks", strings.NewReplacer("com.okta.oauth2.tokens.transform", HookTypeImport, `"patients"`, `"import"`).Replace(validHook))
	cases := map[string]struct {
		query string
		want  []string
	}{
		"all":    {query: "", want: []string{"patients", "import"}},
		"tokens": {query: "?type=" + HookTypeToken, want: []string{"patients"}},
		"import": {query: "?type=" + HookTypeImport, want: []string{"import"}},
		"none":   {query: "?type=" + HookTypeTelephony, want: []string{}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			hooks := decodeJSON[[]hookOut](t, call(t, s, http.MethodGet, "/api/v1/inlineHooks"+tc.query, ""))
			names := []string{}
			for _, h := range hooks {
				names = append(names, h.Name)
			}
			if diff := cmp.Diff(tc.want, names); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestHookLimit(t *testing.T) {
	s := New(Options{Token: token, HookLimit: 2})
	for _, name := range []string{"a", "b", "c"} {
		w := call(t, s, http.MethodPost, "/api/v1/inlineHooks", hookWith(`"name":"patients"`, `"name":"`+name+`"`))
		if name != "c" && w.Code != 200 {
			t.Fatalf("create %s = %d", name, w.Code)
		}
		if name == "c" {
			b := oktaError(t, w)
			if w.Code != 400 || b.ErrorCode != CodeValidation || !strings.Contains(b.ErrorCauses[0].ErrorSummary, "maximum number of inline hooks (2)") {
				t.Fatalf("create past the limit = %d %+v", w.Code, b)
			}
		}
	}
}

func TestIDsAreOktaShapedAndSeeded(t *testing.T) {
	ids := func(seed int64) []string {
		s := New(Options{Token: token, Seed: seed})
		h := decodeJSON[hookOut](t, call(t, s, http.MethodPost, "/api/v1/inlineHooks", validHook))
		as, err := s.AddAuthServer(AuthServerSpec{Name: "custom", Audiences: []string{"api://custom"}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.AddPolicy(as.ID, PolicySpec{Name: "p", Clients: []string{"ALL_CLIENTS"}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.AddRule(as.ID, p.ID, RuleSpec{Name: "r", Conditions: everyone()})
		if err != nil {
			t.Fatal(err)
		}
		return []string{h.ID, as.ID, p.ID, r.ID}
	}
	a, b, c := ids(7), ids(7), ids(8)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different IDs:\n%s", diff)
	}
	if cmp.Equal(a, c) {
		t.Error("different seeds gave the same IDs")
	}
	for i, prefix := range []string{"cal", "aus", "00p", "0pr"} {
		if len(a[i]) != 20 || !strings.HasPrefix(a[i], prefix) {
			t.Errorf("ID %q, want %s… of 20 characters", a[i], prefix)
		}
	}
}

func everyone() RuleConditions {
	return RuleConditions{Groups: IncludeExclude{Include: []string{"EVERYONE"}}, GrantTypes: []string{"client_credentials"}, Scopes: []string{"*"}}
}

func TestNewOrgSeeds(t *testing.T) {
	s := New(Options{Token: token})
	servers := decodeJSON[[]authServerOut](t, call(t, s, http.MethodGet, "/api/v1/authorizationServers", ""))
	if len(servers) != 1 || servers[0].ID != "default" || servers[0].Issuer != "http://example.com/oauth2/default" {
		t.Fatalf("servers %+v", servers)
	}
	policies := decodeJSON[[]policyOut](t, call(t, s, http.MethodGet, "/api/v1/authorizationServers/default/policies", ""))
	if len(policies) != 1 || policies[0].Name != DefaultPolicyName || policies[0].Priority != 1 || policies[0].Type != "OAUTH_AUTHORIZATION_POLICY" {
		t.Fatalf("policies %+v", policies)
	}
	w := call(t, s, http.MethodGet, "/api/v1/authorizationServers/default/policies/"+policies[0].ID+"/rules", "")
	var rules []map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &rules); err != nil || len(rules) != 1 {
		t.Fatalf("rules %s", w.Body)
	}
	r := rules[0]
	delete(r, "id")
	delete(r, "created")
	delete(r, "lastUpdated")
	delete(r, "_links")
	want := map[string]any{
		"type": "RESOURCE_ACCESS", "status": "ACTIVE", "name": "Default Policy Rule", "priority": 1.0, "system": false,
		"conditions": map[string]any{
			"people":     map[string]any{"users": map[string]any{"include": []any{}, "exclude": []any{}}, "groups": map[string]any{"include": []any{"EVERYONE"}, "exclude": []any{}}},
			"grantTypes": map[string]any{"include": []any{"implicit", "client_credentials", "authorization_code", "password"}},
			"scopes":     map[string]any{"include": []any{"*"}},
		},
		"actions": map[string]any{"token": map[string]any{"accessTokenLifetimeMinutes": 60.0, "refreshTokenLifetimeMinutes": 0.0, "refreshTokenWindowMinutes": 10080.0}},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("default rule (-want +got):\n%s", diff)
	}
}

func TestRateLimit(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	s := New(Options{Token: token, RateLimitPerMinute: 2, Now: func() time.Time { return now }})
	wantHeaders := func(w *httptest.ResponseRecorder, limit, remaining string, reset int64) {
		t.Helper()
		h := w.Header()
		got := []string{h.Get("X-Rate-Limit-Limit"), h.Get("X-Rate-Limit-Remaining"), h.Get("X-Rate-Limit-Reset")}
		want := []string{limit, remaining, strconv.FormatInt(reset, 10)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rate limit headers (-want +got):\n%s", diff)
		}
		if h.Get("X-Okta-Request-Id") == "" || h.Get("Date") != now.Format(http.TimeFormat) {
			t.Errorf("Date %q, X-Okta-Request-Id %q", h.Get("Date"), h.Get("X-Okta-Request-Id"))
		}
	}
	reset := now.Add(time.Minute).Unix() + 1 // rounded up
	w := call(t, s, http.MethodGet, "/api/v1/inlineHooks", "")
	wantHeaders(w, "2", "1", reset)
	now = now.Add(10 * time.Second)
	call(t, s, http.MethodGet, "/api/v1/inlineHooks", "")
	w = call(t, s, http.MethodGet, "/api/v1/inlineHooks", "")
	if w.Code != 429 || oktaError(t, w).ErrorCode != CodeRateLimited {
		t.Fatalf("third request = %d %s", w.Code, w.Body)
	}
	wantHeaders(w, "2", "0", reset)

	now = now.Add(time.Minute) // a new window starts with this request
	w = call(t, s, http.MethodGet, "/api/v1/inlineHooks", "")
	if w.Code != 200 {
		t.Fatalf("after the window = %d", w.Code)
	}
	wantHeaders(w, "2", "1", now.Add(time.Minute).Unix()+1)
}

func TestRateLimitOffStillSendsHeaders(t *testing.T) {
	s := New(Options{Token: token})
	for i := 0; i < 3; i++ {
		w := call(t, s, http.MethodGet, "/api/v1/inlineHooks", "")
		if w.Code != 200 || w.Header().Get("X-Rate-Limit-Limit") != "1000" || w.Header().Get("X-Rate-Limit-Remaining") == "" {
			t.Fatalf("request %d: %d %v", i, w.Code, w.Header())
		}
	}
}

package oktasim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func defaultPolicy(t *testing.T, s *Sim) Policy {
	t.Helper()
	p, err := s.PolicyByName(DefaultAuthServerID, DefaultPolicyName)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rulesPath(p Policy) string {
	return "/api/v1/authorizationServers/" + p.AuthServerID + "/policies/" + p.ID + "/rules"
}

// ruleBody is a rule as SDK v2 sends it when built without lifetimes: they are null.
const ruleBody = `{"type":"RESOURCE_ACCESS","name":"R","conditions":{"people":{"groups":{"include":["EVERYONE"]}},
 "grantTypes":{"include":["authorization_code"]},"scopes":{"include":["openid"]}},
 "actions":{"token":{"accessTokenLifetimeMinutes":null,"refreshTokenLifetimeMinutes":null,"refreshTokenWindowMinutes":null}}}`

func TestRuleValidation(t *testing.T) {
	s := New(Options{Token: token})
	p := defaultPolicy(t, s)
	hook, err := s.AddHook(HookSpec{Name: "h", Type: HookTypeToken, Version: "1.0.0", Channel: Channel{Type: "HTTP", Version: "1.0.0", URI: "https://h.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.AddHook(HookSpec{Name: "i", Type: HookTypeImport, Version: "1.0.0", Channel: Channel{Type: "HTTP", Version: "1.0.0", URI: "https://i.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	lifetimes := `"accessTokenLifetimeMinutes":null,"refreshTokenLifetimeMinutes":null,"refreshTokenWindowMinutes":null`
	cases := map[string]struct {
		body   string
		status int
		field  string
		window int // of a created rule; 0: the default
	}{
		"null lifetimes get defaults": {body: ruleBody, status: 201},
		"no actions at all": {body: strings.Replace(ruleBody, `,
 "actions":{"token":{`+lifetimes+`}}`, "", 1), status: 201},
		"with a token hook":        {body: strings.Replace(ruleBody, lifetimes, `"inlineHook":{"id":"`+hook.ID+`"}`, 1), status: 201},
		"unknown hook":             {body: strings.Replace(ruleBody, lifetimes, `"inlineHook":{"id":"calnope"}`, 1), status: 400, field: "actions.token.inlineHook.id"},
		"hook of another type":     {body: strings.Replace(ruleBody, lifetimes, `"inlineHook":{"id":"`+other.ID+`"}`, 1), status: 400, field: "actions.token.inlineHook.id"},
		"zero access lifetime":     {body: strings.Replace(ruleBody, `"accessTokenLifetimeMinutes":null`, `"accessTokenLifetimeMinutes":0`, 1), status: 400, field: "actions.token.accessTokenLifetimeMinutes"},
		"refresh below access":     {body: strings.Replace(ruleBody, lifetimes, `"accessTokenLifetimeMinutes":60,"refreshTokenLifetimeMinutes":30,"refreshTokenWindowMinutes":20`, 1), status: 400, field: "actions.token.refreshTokenLifetimeMinutes"},
		"no name":                  {body: strings.Replace(ruleBody, `"name":"R",`, "", 1), status: 400, field: "name"},
		"wrong type":               {body: strings.Replace(ruleBody, "RESOURCE_ACCESS", "SIGN_ON", 1), status: 400, field: "type"},
		"no conditions":            {body: `{"type":"RESOURCE_ACCESS","name":"R"}`, status: 400, field: "conditions"},
		"no type":                  {body: strings.Replace(ruleBody, `"type":"RESOURCE_ACCESS",`, "", 1), status: 400, field: "type"},
		"window of 10 minutes":     {body: strings.Replace(ruleBody, lifetimes, `"refreshTokenWindowMinutes":10`, 1), status: 201, window: 10},
		"window of 9 minutes":      {body: strings.Replace(ruleBody, lifetimes, `"refreshTokenWindowMinutes":9`, 1), status: 400, field: "actions.token.refreshTokenWindowMinutes"},
		"window over five years":   {body: strings.Replace(ruleBody, lifetimes, `"refreshTokenWindowMinutes":2628001`, 1), status: 400, field: "actions.token.refreshTokenWindowMinutes"},
		"access lifetime of 1441":  {body: strings.Replace(ruleBody, `"accessTokenLifetimeMinutes":null`, `"accessTokenLifetimeMinutes":1441`, 1), status: 400, field: "actions.token.accessTokenLifetimeMinutes"},
		"a grant of the enum":      {body: strings.Replace(ruleBody, `"authorization_code"`, `"urn:openid:params:grant-type:ciba"`, 1), status: 201},
		"unknown grant type":       {body: strings.Replace(ruleBody, "authorization_code", "magic", 1), status: 400, field: "conditions.grantTypes.include"},
		"no scopes":                {body: strings.Replace(ruleBody, `"scopes":{"include":["openid"]}`, `"scopes":{}`, 1), status: 400, field: "conditions.scopes.include"},
		"bad status":               {body: strings.Replace(ruleBody, `"name":"R",`, `"name":"R","status":"ON",`, 1), status: 400, field: "status"},
		"priority is not a number": {body: strings.Replace(ruleBody, `"name":"R",`, `"name":"R","priority":"1",`, 1), status: 400},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := call(t, s, http.MethodPost, rulesPath(p), tc.body)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 201 {
				r := decodeJSON[ruleOut](t, w)
				tok := r.Actions.Token
				window := tc.window
				if window == 0 {
					window = DefaultRefreshTokenWindowMinutes
				}
				if tok.AccessTokenLifetimeMinutes != 60 || tok.RefreshTokenLifetimeMinutes != 0 || tok.RefreshTokenWindowMinutes != window {
					t.Errorf("lifetimes %+v, want 60/0/%d", tok, window)
				}
				return
			}
			if tc.field != "" && oktaError(t, w).ErrorSummary != "Api validation failed: "+tc.field {
				t.Errorf("error %s, want field %s", w.Body, tc.field)
			}
		})
	}
}

func TestRulePutIsFullReplace(t *testing.T) {
	s := New(Options{Token: token})
	p := defaultPolicy(t, s)
	hook, err := s.AddHook(HookSpec{Name: "h", Type: HookTypeToken, Version: "1.0.0", Channel: Channel{Type: "HTTP", Version: "1.0.0", URI: "https://h.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.AddRule(p.AuthServerID, p.ID, RuleSpec{Name: "R", Conditions: everyone(),
		Token: TokenActions{AccessTokenLifetimeMinutes: 30, RefreshTokenWindowMinutes: 60, InlineHookID: hook.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRule(p.AuthServerID, p.ID, r.ID, func(r *Rule) { r.Status = StatusInactive }); err != nil {
		t.Fatal(err)
	}
	// A PUT without actions: the hook goes, lifetimes fall back to defaults, status and
	// priority stay.
	put := `{"type":"RESOURCE_ACCESS","name":"R2","conditions":{"people":{"groups":{"include":["EVERYONE"]}},"grantTypes":{"include":["client_credentials"]},"scopes":{"include":["*"]}},"status":"ACTIVE"}`
	// type is required on a replace too, and status must be of the enum though it is kept.
	for name, bad := range map[string]string{
		"no type":    strings.Replace(put, `"type":"RESOURCE_ACCESS",`, "", 1),
		"bad status": strings.Replace(put, `"status":"ACTIVE"`, `"status":"ON"`, 1),
	} {
		if w := call(t, s, http.MethodPut, rulesPath(p)+"/"+r.ID, bad); w.Code != http.StatusBadRequest {
			t.Errorf("PUT with %s = %d %s, want 400", name, w.Code, w.Body)
		}
	}
	w := call(t, s, http.MethodPut, rulesPath(p)+"/"+r.ID, `{"type":"RESOURCE_ACCESS","name":"R2","conditions":{"people":{"groups":{"include":["EVERYONE"]}},"grantTypes":{"include":["client_credentials"]},"scopes":{"include":["*"]}},"status":"ACTIVE"}`)
	if w.Code != 200 {
		t.Fatalf("PUT = %d %s", w.Code, w.Body)
	}
	got, err := s.Rule(p.AuthServerID, p.ID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := TokenActions{AccessTokenLifetimeMinutes: 60, RefreshTokenWindowMinutes: 10080}
	if got.Name != "R2" || got.Status != StatusInactive || got.Priority != 2 || got.Token != want {
		t.Errorf("after PUT: %+v", got)
	}
	// Now the hook can go too.
	if _, err := s.UpdateHook(hook.ID, func(h *Hook) { h.Status = StatusInactive }); err != nil {
		t.Fatal(err)
	}
	if w := call(t, s, http.MethodDelete, "/api/v1/inlineHooks/"+hook.ID, ""); w.Code != 204 {
		t.Errorf("delete unused INACTIVE hook = %d %s", w.Code, w.Body)
	}
}

func TestHookInUseCannotBeDeleted(t *testing.T) {
	s := New(Options{Token: token})
	p := defaultPolicy(t, s)
	hook, err := s.AddHook(HookSpec{Name: "h", Type: HookTypeToken, Version: "1.0.0", Channel: Channel{Type: "HTTP", Version: "1.0.0", URI: "https://h.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := s.Rules(p.AuthServerID, p.ID)
	if _, err := s.UpdateRule(p.AuthServerID, p.ID, rules[0].ID, func(r *Rule) { r.Token.InlineHookID = hook.ID }); err != nil {
		t.Fatal(err)
	}
	call(t, s, http.MethodPost, "/api/v1/inlineHooks/"+hook.ID+"/lifecycle/deactivate", "")
	w := call(t, s, http.MethodDelete, "/api/v1/inlineHooks/"+hook.ID, "")
	if w.Code != 400 || oktaError(t, w).ErrorSummary != "Api validation failed: inlineHook" {
		t.Fatalf("delete used hook = %d %s", w.Code, w.Body)
	}
	// RemoveHook plays a hook vanishing anyway; the rule keeps the dangling ID.
	if !s.RemoveHook(hook.ID) {
		t.Fatal("RemoveHook found nothing")
	}
	r, _ := s.Rule(p.AuthServerID, p.ID, rules[0].ID)
	if r.Token.InlineHookID != hook.ID {
		t.Errorf("rule hook = %q", r.Token.InlineHookID)
	}
}

func TestLifecycleAnswers204(t *testing.T) {
	s := New(Options{Token: token})
	p := defaultPolicy(t, s)
	rules, _ := s.Rules(p.AuthServerID, p.ID)
	policyPath := "/api/v1/authorizationServers/default/policies/" + p.ID
	rulePath := policyPath + "/rules/" + rules[0].ID
	cases := []struct {
		path   string
		status func() string
		want   string
	}{
		{rulePath + "/lifecycle/deactivate", func() string { r, _ := s.Rule("default", p.ID, rules[0].ID); return r.Status }, StatusInactive},
		{rulePath + "/lifecycle/deactivate", func() string { r, _ := s.Rule("default", p.ID, rules[0].ID); return r.Status }, StatusInactive},
		{rulePath + "/lifecycle/activate", func() string { r, _ := s.Rule("default", p.ID, rules[0].ID); return r.Status }, StatusActive},
		{policyPath + "/lifecycle/deactivate", func() string { p, _ := s.Policy("default", p.ID); return p.Status }, StatusInactive},
		{policyPath + "/lifecycle/activate", func() string { p, _ := s.Policy("default", p.ID); return p.Status }, StatusActive},
	}
	for _, tc := range cases {
		w := call(t, s, http.MethodPost, tc.path, "")
		if w.Code != 204 || w.Body.Len() != 0 {
			t.Errorf("POST %s = %d %q, want 204 with no body", tc.path, w.Code, w.Body)
		}
		if got := tc.status(); got != tc.want {
			t.Errorf("after POST %s status = %s, want %s", tc.path, got, tc.want)
		}
	}
	if w := call(t, s, http.MethodPost, rulePath+"x/lifecycle/activate", ""); w.Code != 404 {
		t.Errorf("unknown rule lifecycle = %d", w.Code)
	}
}

func TestPolicyCreateAndPriorities(t *testing.T) {
	s := New(Options{Token: token})
	base := "/api/v1/authorizationServers/default/policies"
	body := func(name, priority string) string {
		return `{"type":"OAUTH_AUTHORIZATION_POLICY","name":"` + name + `","description":"d",` + priority +
			`"conditions":{"clients":{"include":["ALL_CLIENTS"]}}}`
	}
	w := call(t, s, http.MethodPost, base, body("B", `"priority":99,`))
	if w.Code != 201 || decodeJSON[policyOut](t, w).Priority != 2 {
		t.Fatalf("create with priority 99 = %d %s, want 201 and priority 2", w.Code, w.Body)
	}
	w = call(t, s, http.MethodPost, base, body("A", `"priority":1,`))
	a := decodeJSON[policyOut](t, w)
	if w.Code != 201 || a.Priority != 1 {
		t.Fatalf("create with priority 1 = %d %s", w.Code, w.Body)
	}
	order := func() []string {
		var names []string
		for _, p := range decodeJSON[[]policyOut](t, call(t, s, http.MethodGet, base, "")) {
			names = append(names, p.Name+":"+string(rune('0'+p.Priority)))
		}
		return names
	}
	if diff := cmp.Diff([]string{"A:1", "Default Policy:2", "B:3"}, order()); diff != "" {
		t.Errorf("after inserts (-want +got):\n%s", diff)
	}
	if w := call(t, s, http.MethodPut, base+"/"+a.ID, body("A", `"priority":3,`)); w.Code != 200 {
		t.Fatalf("PUT = %d %s", w.Code, w.Body)
	}
	if diff := cmp.Diff([]string{"Default Policy:1", "B:2", "A:3"}, order()); diff != "" {
		t.Errorf("after moving A last (-want +got):\n%s", diff)
	}
	if w := call(t, s, http.MethodDelete, base+"/"+a.ID, ""); w.Code != 204 {
		t.Fatalf("DELETE = %d", w.Code)
	}
	if w := call(t, s, http.MethodPost, base, `{"name":"C"}`); w.Code != 400 || oktaError(t, w).ErrorSummary != "Api validation failed: description, conditions.clients.include" {
		t.Errorf("invalid policy = %d %s", w.Code, w.Body)
	}
}

func TestRulePriorities(t *testing.T) {
	s := New(Options{Token: token})
	p := defaultPolicy(t, s)
	add := func(name string, priority int) Rule {
		r, err := s.AddRule(p.AuthServerID, p.ID, RuleSpec{Name: name, Priority: priority, Conditions: everyone()})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	order := func() string {
		rules, _ := s.Rules(p.AuthServerID, p.ID)
		var names []string
		for i, r := range rules {
			if r.Priority != i+1 {
				t.Errorf("rule %s has priority %d at position %d", r.Name, r.Priority, i+1)
			}
			names = append(names, r.Name)
		}
		return strings.Join(names, ",")
	}
	a := add("a", 99)
	add("b", 1)
	add("c", 2)
	if got := order(); got != "b,c,Default Policy Rule,a" {
		t.Errorf("order %s", got)
	}
	w := call(t, s, http.MethodPut, rulesPath(p)+"/"+a.ID, strings.Replace(ruleBody, `"name":"R",`, `"name":"a","priority":1,`, 1))
	if w.Code != 200 || decodeJSON[ruleOut](t, w).Priority != 1 {
		t.Fatalf("PUT priority 1 = %d %s", w.Code, w.Body)
	}
	if got := order(); got != "a,b,c,Default Policy Rule" {
		t.Errorf("order after PUT %s", got)
	}
	if w := call(t, s, http.MethodDelete, rulesPath(p)+"/"+a.ID, ""); w.Code != 204 {
		t.Fatalf("DELETE = %d", w.Code)
	}
	if got := order(); got != "b,c,Default Policy Rule" {
		t.Errorf("order after DELETE %s", got)
	}
}

// TestPolicyReplaceValidatesItsEnums: a policy PUT keeps the stored status, but a status or
// type outside the enums is still refused.
func TestPolicyReplaceValidatesItsEnums(t *testing.T) {
	s := New(Options{Token: token})
	p := defaultPolicy(t, s)
	path := "/api/v1/authorizationServers/" + p.AuthServerID + "/policies/" + p.ID
	good := `{"type":"OAUTH_AUTHORIZATION_POLICY","name":"P","description":"d","status":"ACTIVE","conditions":{"clients":{"include":["ALL_CLIENTS"]}}}`
	cases := map[string]struct {
		body   string
		status int
	}{
		"valid":      {body: good, status: http.StatusOK},
		"bad status": {body: strings.Replace(good, `"ACTIVE"`, `"ON"`, 1), status: http.StatusBadRequest},
		"bad type":   {body: strings.Replace(good, "OAUTH_AUTHORIZATION_POLICY", "OKTA_SIGN_ON", 1), status: http.StatusBadRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if w := call(t, s, http.MethodPut, path, tc.body); w.Code != tc.status {
				t.Errorf("PUT = %d %s, want %d", w.Code, w.Body, tc.status)
			}
		})
	}
}

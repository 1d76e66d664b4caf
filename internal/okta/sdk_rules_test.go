package okta

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A rule with fields SDK v2 does not model (conditions.risk, a future action) and empty arrays,
// which a round trip through the SDK's types would drop.
const ruleJSON = `{"type":"RESOURCE_ACCESS","id":"0pr1","status":"ACTIVE","name":"R","priority":3,"system":false,
"conditions":{"people":{"users":{"include":[],"exclude":[]},"groups":{"include":["EVERYONE"],"exclude":[]}},
 "grantTypes":{"include":["authorization_code"]},"scopes":{"include":["*"]},"risk":{"level":"LOW"}},
"actions":{"token":{"accessTokenLifetimeMinutes":15,"refreshTokenLifetimeMinutes":0,"refreshTokenWindowMinutes":10080,
 "inlineHook":{"id":"calold"},"futureSetting":true}},
"created":"2026-01-01T00:00:00.000Z","_links":{"self":{"href":"https://x"}}}`

func TestWithInlineHookKeepsEveryOtherField(t *testing.T) {
	cases := map[string]struct {
		raw, hookID string
		wantHook    any // actions.token.inlineHook, nil = absent
	}{
		"replace":            {raw: ruleJSON, hookID: "calnew", wantHook: map[string]any{"id": "calnew"}},
		"remove":             {raw: ruleJSON, hookID: "", wantHook: nil},
		"add without token":  {raw: `{"id":"0pr1","name":"R"}`, hookID: "calnew", wantHook: map[string]any{"id": "calnew"}},
		"add to null action": {raw: `{"id":"0pr1","actions":null}`, hookID: "calnew", wantHook: map[string]any{"id": "calnew"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			body, err := withInlineHook(json.RawMessage(tc.raw), tc.hookID)
			if err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.raw), &want); err != nil {
				t.Fatal(err)
			}
			delete(want, "_links")
			actions, _ := want["actions"].(map[string]any)
			if actions == nil {
				actions = map[string]any{}
				want["actions"] = actions
			}
			token, _ := actions["token"].(map[string]any)
			if token == nil {
				token = map[string]any{}
				actions["token"] = token
			}
			delete(token, "inlineHook")
			if tc.wantHook != nil {
				token["inlineHook"] = tc.wantHook
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("PUT body (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := withInlineHook(json.RawMessage(`[1]`), "cal1"); err == nil {
		t.Error("accepted a rule that is not an object")
	}
}

func TestParseRule(t *testing.T) {
	r, err := parseRule("00p1", json.RawMessage(ruleJSON))
	if err != nil {
		t.Fatal(err)
	}
	want := &PolicyRule{ID: "0pr1", PolicyID: "00p1", Name: "R", Status: "ACTIVE", InlineHookID: "calold", raw: json.RawMessage(ruleJSON)}
	if diff := cmp.Diff(want, r, cmp.AllowUnexported(PolicyRule{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseRule("00p1", json.RawMessage(`{"name":"no id"}`)); err == nil {
		t.Error("accepted a rule without id")
	}
}

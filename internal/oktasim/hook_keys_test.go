package oktasim

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestHookKeyLifecycle walks /api/v1/hook-keys as the management OpenAPI gives it: create 200
// with the public key under _embedded, list and get without it (get with it for
// ?expand=publickey), the public key by keyId, rename by PUT, delete 204.
func TestHookKeyLifecycle(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := New(Options{Token: token, Now: clock.now})

	w := call(t, s, http.MethodPost, "/api/v1/hook-keys", `{"name":"tokenhook"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("create = %d %s", w.Code, w.Body)
	}
	if diff := cmp.Diff([]string{"_embedded", "created", "id", "isUsed", "keyId", "lastUpdated", "name"}, keysOf(t, w.Body.Bytes())); diff != "" {
		t.Errorf("create answer fields (-want +got):\n%s", diff)
	}
	created := decodeJSON[hookKeyOut](t, w)
	if !strings.HasPrefix(created.ID, "HKY") || len(created.ID) != 20 || !uuidPattern.MatchString(created.KeyID) {
		t.Errorf("id %q, keyId %q: not Okta-shaped", created.ID, created.KeyID)
	}
	if created.Name != "tokenhook" || created.IsUsed != "false" || created.Created != "2026-03-01T09:00:00.000Z" || created.LastUpdated != created.Created {
		t.Errorf("created = %+v", created)
	}
	pk := created.Embedded
	if pk == nil || pk.Kty != "RSA" || pk.Alg != "RSA" || pk.Kid != created.KeyID || pk.Use != nil || pk.E != "AQAB" || len(pk.N) < 340 {
		t.Fatalf("_embedded = %+v", pk)
	}
	if !strings.Contains(w.Body.String(), `"use":null`) {
		t.Errorf("use is not null: %s", w.Body)
	}

	// The Go API agrees, and its PublicKey is the same key, ready for a JWKS.
	k, err := s.HookKey(created.ID)
	if err != nil {
		t.Fatal(err)
	}
	jwk, _ := json.Marshal(k.PublicKey)
	var parsed jose.JSONWebKey
	if err := parsed.UnmarshalJSON(jwk); err != nil || parsed.KeyID != created.KeyID || parsed.Algorithm != "RS256" || !parsed.IsPublic() {
		t.Fatalf("PublicKey %s: %v", jwk, err)
	}
	if n := parsed.Key.(*rsa.PublicKey).N.BitLen(); n != 2048 {
		t.Errorf("key has %d bits", n)
	}
	if !strings.Contains(string(jwk), `"n":"`+pk.N+`"`) {
		t.Errorf("API modulus differs from the Go API's key")
	}

	for name, path := range map[string]string{"list": "/api/v1/hook-keys", "get": "/api/v1/hook-keys/" + created.ID} {
		w := call(t, s, http.MethodGet, path, "")
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "_embedded") {
			t.Errorf("%s = %d %s, want 200 without the public key", name, w.Code, w.Body)
		}
	}
	if got := decodeJSON[[]hookKeyOut](t, call(t, s, http.MethodGet, "/api/v1/hook-keys", "")); len(got) != 1 || got[0].ID != created.ID {
		t.Errorf("list = %+v", got)
	}
	if got := decodeJSON[hookKeyOut](t, call(t, s, http.MethodGet, "/api/v1/hook-keys/"+created.ID+"?expand=publickey", "")); got.Embedded == nil || *got.Embedded != *pk {
		t.Errorf("get ?expand=publickey = %+v", got)
	}
	w = call(t, s, http.MethodGet, "/api/v1/hook-keys/public/"+created.KeyID, "")
	if w.Code != http.StatusOK {
		t.Fatalf("public key = %d %s", w.Code, w.Body)
	}
	if got := decodeJSON[publicKeyOut](t, w); got != *pk {
		t.Errorf("public key = %+v, want %+v", got, *pk)
	}
	if w := call(t, s, http.MethodGet, "/api/v1/hook-keys/public/"+created.ID, ""); w.Code != http.StatusNotFound {
		t.Errorf("public key by id instead of keyId = %d, want 404", w.Code)
	}

	clock.advance(time.Minute)
	w = call(t, s, http.MethodPut, "/api/v1/hook-keys/"+created.ID, `{"name":"tokenhook renamed"}`)
	renamed := decodeJSON[hookKeyOut](t, w)
	if w.Code != http.StatusOK || renamed.Name != "tokenhook renamed" || renamed.KeyID != created.KeyID ||
		renamed.Created != created.Created || renamed.LastUpdated != "2026-03-01T09:01:00.000Z" || renamed.Embedded == nil {
		t.Errorf("rename = %d %s", w.Code, w.Body)
	}

	if w := call(t, s, http.MethodDelete, "/api/v1/hook-keys/"+created.ID, ""); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("delete = %d %s", w.Code, w.Body)
	}
	for _, path := range []string{"/api/v1/hook-keys/" + created.ID, "/api/v1/hook-keys/public/" + created.KeyID} {
		w := call(t, s, http.MethodGet, path, "")
		if b := oktaError(t, w); w.Code != http.StatusNotFound || b.ErrorCode != CodeNotFound || !strings.HasSuffix(b.ErrorSummary, "(HookKey)") {
			t.Errorf("GET %s after delete = %d %+v", path, w.Code, b)
		}
	}
	if w := call(t, s, http.MethodDelete, "/api/v1/hook-keys/"+created.ID, ""); w.Code != http.StatusNotFound {
		t.Errorf("second delete = %d, want 404", w.Code)
	}
}

func TestHookKeyValidation(t *testing.T) {
	cases := map[string]struct {
		method, path, body string
		summary            string
	}{
		"no name":          {method: http.MethodPost, body: `{}`, summary: "Api validation failed: name"},
		"blank name":       {method: http.MethodPost, body: `{"name":"  "}`, summary: "Api validation failed: name"},
		"long name":        {method: http.MethodPost, body: `{"name":"` + strings.Repeat("k", 256) + `"}`, summary: "Api validation failed: name"},
		"duplicate name":   {method: http.MethodPost, body: `{"name":"first"}`, summary: "Api validation failed: name"},
		"rename to taken":  {method: http.MethodPut, path: "second", body: `{"name":"first"}`, summary: "Api validation failed: name"},
		"over the limit":   {method: http.MethodPost, body: `{"name":"third"}`, summary: "Api validation failed: hookKey"},
		"malformed body":   {method: http.MethodPost, body: `{"name":`, summary: "The request body was not well-formed."},
		"rename malformed": {method: http.MethodPut, path: "second", body: `{"name":3}`, summary: "The request body was not well-formed."},
	}
	s := New(Options{Token: token, HookKeyLimit: 2})
	first, err := s.AddHookKey("first")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.AddHookKey("second")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{"second": second.ID}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := call(t, s, tc.method, "/api/v1/hook-keys/"+ids[tc.path], tc.body)
			b := oktaError(t, w)
			if w.Code != http.StatusBadRequest || b.ErrorSummary != tc.summary || len(b.ErrorCauses) == 0 && tc.summary != "The request body was not well-formed." {
				t.Errorf("%s = %d %+v, want 400 %q", tc.method, w.Code, b, tc.summary)
			}
		})
	}
	if keys := s.HookKeys(); len(keys) != 2 || keys[0].Name != first.Name || keys[1].Name != second.Name {
		t.Errorf("keys after refused calls = %+v", keys)
	}
	if DefaultHookKeyLimit != 50 {
		t.Errorf("DefaultHookKeyLimit = %d, Okta's is 50", DefaultHookKeyLimit)
	}
}

// TestHookKeyInUse: an OAUTH channel names a key by its id; the key then reports isUsed and
// cannot be deleted, until no hook names it.
func TestHookKeyInUse(t *testing.T) {
	s := New(Options{Token: token})
	k, err := s.AddHookKey("tokenhook")
	if err != nil {
		t.Fatal(err)
	}
	body := func(config string) string {
		return `{"name":"patients","type":"com.okta.oauth2.tokens.transform","version":"1.0.0",
			"channel":{"type":"OAUTH","version":"1.0.0","config":{"uri":"https://hooks.example.com/tokenHook",` + config + `}}}`
	}
	jwtConfig := `"authType":"private_key_jwt","clientId":"0oahook","hookKeyId":"` + k.ID + `","tokenUrl":"https://org.example/oauth2/default/v1/token","scope":"hooks"`

	w := call(t, s, http.MethodPost, "/api/v1/inlineHooks", body(strings.Replace(jwtConfig, k.ID, "HKYnosuchkey00000000", 1)))
	if b := oktaError(t, w); w.Code != 400 || b.ErrorSummary != "Api validation failed: channel.config.hookKeyId" {
		t.Errorf("unknown hookKeyId = %d %+v", w.Code, b)
	}
	w = call(t, s, http.MethodPost, "/api/v1/inlineHooks", body(jwtConfig))
	if w.Code != http.StatusOK {
		t.Fatalf("create = %d %s", w.Code, w.Body)
	}
	hook := decodeJSON[hookOut](t, w)
	if got := decodeJSON[hookKeyOut](t, call(t, s, http.MethodGet, "/api/v1/hook-keys/"+k.ID, "")); got.IsUsed != "true" {
		t.Errorf("isUsed = %q with a hook naming the key", got.IsUsed)
	}
	w = call(t, s, http.MethodDelete, "/api/v1/hook-keys/"+k.ID, "")
	if b := oktaError(t, w); w.Code != 400 || b.ErrorCode != CodeValidation {
		t.Fatalf("delete a key in use = %d %+v, want 400 E0000001", w.Code, b)
	}
	// The hook moves to an HTTP channel: the key is free.
	w = call(t, s, http.MethodPut, "/api/v1/inlineHooks/"+hook.ID, validHook)
	if w.Code != http.StatusOK {
		t.Fatalf("PUT to HTTP = %d %s", w.Code, w.Body)
	}
	if got, _ := s.HookKey(k.ID); got.IsUsed {
		t.Error("isUsed after the hook stopped naming the key")
	}
	if w := call(t, s, http.MethodDelete, "/api/v1/hook-keys/"+k.ID, ""); w.Code != http.StatusNoContent {
		t.Errorf("delete a free key = %d %s", w.Code, w.Body)
	}
}

func TestHookKeysNeedTheHookScopes(t *testing.T) {
	s := New(Options{})
	if w := call(t, s, http.MethodGet, "/api/v1/hook-keys", ""); w.Code != http.StatusUnauthorized {
		t.Errorf("list without a valid token = %d", w.Code)
	}
	for _, rt := range s.routes {
		if strings.HasPrefix(rt.path(), "/api/v1/hook-keys") && rt.scope != scopeHooks {
			t.Errorf("%s has scope %q, want %s (the spec's okta.inlineHooks.read/manage)", rt.name, rt.scope, scopeHooks)
		}
	}
}

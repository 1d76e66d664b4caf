package oktasim

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
)

// TestAppJWKSLifecycle walks /api/v1/apps/{appId}/credentials/jwks as the management OpenAPI gives
// it: list (an array), add 201 with the key's pks… ID, get, deactivate and activate 200, delete
// 204 of an INACTIVE key only, with Okta's validation errors.
func TestAppJWKSLifecycle(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := New(Options{Token: token, Now: clock.now})
	hk, err := s.AddHookKey("tokenhook")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.AddHookKey("other")
	if err != nil {
		t.Fatal(err)
	}
	const app = "0oahookjwtapp0000000"
	if err := s.AddClient(ClientSpec{ClientID: app, GrantTypes: []string{GrantClientCredentials}, TokenEndpointAuthMethod: ClientAuthPrivateKeyJWT}); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/apps/" + app + "/credentials/jwks"
	pub := renderPublicKey(hk)
	body := `{"kid":"` + hk.KeyID + `","kty":"RSA","alg":"RS256","use":"sig","e":"` + pub.E + `","n":"` + pub.N + `","status":"ACTIVE"}`

	if w := call(t, s, http.MethodGet, base, ""); w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "[]" {
		t.Fatalf("empty list = %d %s", w.Code, w.Body)
	}
	w := call(t, s, http.MethodPost, base, body)
	if w.Code != http.StatusCreated {
		t.Fatalf("add = %d %s", w.Code, w.Body)
	}
	added := decodeJSON[jwkOut](t, w)
	if !strings.HasPrefix(added.ID, "pks") || len(added.ID) != 20 || added.Kid == nil || *added.Kid != hk.KeyID ||
		added.Status != JWKActive || added.N != pub.N || added.Alg != "RS256" || added.Use != "sig" || added.Created != "2026-03-01T09:00:00.000Z" {
		t.Errorf("added = %+v", added)
	}
	if _, ok := added.Links["deactivate"]; !ok || len(added.Links) != 1 {
		t.Errorf("an ACTIVE key's _links = %v, want deactivate only", added.Links)
	}
	// The app now authenticates with the hook key.
	if c, _ := s.mint.dir.client(app); len(c.JWKS) != 1 || c.JWKS[0].KeyID != hk.KeyID {
		t.Errorf("the app's active keys = %v", c.JWKS)
	}
	listed := decodeJSON[[]jwkOut](t, call(t, s, http.MethodGet, base, ""))
	if len(listed) != 1 || listed[0].ID != added.ID {
		t.Errorf("list = %+v", listed)
	}
	if got := decodeJSON[jwkOut](t, call(t, s, http.MethodGet, base+"/"+added.ID, "")); got.ID != added.ID {
		t.Errorf("get = %+v", got)
	}

	for name, tc := range map[string]struct {
		method, path, body string
		status             int
		cause              string
	}{
		"a kid twice": {http.MethodPost, base, body, http.StatusBadRequest, causeJWKDuplicateKid},
		"a key without a kid beside others": {http.MethodPost, base, strings.Replace(body, `"kid":"`+hk.KeyID+`",`, "", 1),
			http.StatusBadRequest, causeJWKNoKid},
		"a short RSA key":      {http.MethodPost, base, strings.Replace(body, pub.N, pub.N[:170], 1), http.StatusBadRequest, causeJWKShortRSA},
		"delete an ACTIVE key": {http.MethodDelete, base + "/" + added.ID, "", http.StatusBadRequest, causeJWKDeleteActive},
		"deactivate the only active key of a private_key_jwt app": {http.MethodPost, base + "/" + added.ID + "/lifecycle/deactivate", "",
			http.StatusBadRequest, causeJWKLastActive},
		"an unknown app": {http.MethodGet, "/api/v1/apps/0oanosuchapp00000000/credentials/jwks", "", http.StatusNotFound, ""},
		"an unknown key": {http.MethodGet, base + "/pksnosuchkey00000000", "", http.StatusNotFound, ""},
	} {
		t.Run(name, func(t *testing.T) {
			w := call(t, s, tc.method, tc.path, tc.body)
			if w.Code != tc.status {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, w.Code, w.Body, tc.status)
			}
			e := oktaError(t, w)
			want := CodeValidation
			if tc.status == http.StatusNotFound {
				want = CodeNotFound
			}
			if e.ErrorCode != want || (tc.cause != "" && (len(e.ErrorCauses) != 1 || e.ErrorCauses[0].ErrorSummary != tc.cause)) {
				t.Errorf("error %+v, want %s with cause %q", e, want, tc.cause)
			}
		})
	}

	// A second key; then the first can go: deactivated (its _links offer activate and delete),
	// it no longer verifies assertions, and is deleted.
	opub := renderPublicKey(other)
	second := decodeJSON[jwkOut](t, call(t, s, http.MethodPost, base,
		`{"kid":"`+other.KeyID+`","kty":"RSA","e":"`+opub.E+`","n":"`+opub.N+`"}`))
	if second.Status != JWKActive || second.Alg != "RS256" {
		t.Errorf("a key added without status and alg: %+v, want ACTIVE RS256", second)
	}
	clock.advance(time.Minute)
	w = call(t, s, http.MethodPost, base+"/"+added.ID+"/lifecycle/deactivate", "")
	deactivated := decodeJSON[jwkOut](t, w)
	if w.Code != http.StatusOK || deactivated.Status != JWKInactive || deactivated.LastUpdated != "2026-03-01T09:01:00.000Z" {
		t.Errorf("deactivate = %d %+v", w.Code, deactivated)
	}
	if diff := cmp.Diff([]string{"activate", "delete"}, keysOf(t, marshal(deactivated.Links))); diff != "" {
		t.Errorf("an INACTIVE key's _links (-want +got):\n%s", diff)
	}
	if c, _ := s.mint.dir.client(app); len(c.JWKS) != 1 || c.JWKS[0].KeyID != other.KeyID {
		t.Errorf("the app's active keys after the deactivation = %v", c.JWKS)
	}
	if w := call(t, s, http.MethodDelete, base+"/"+added.ID, ""); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Errorf("delete = %d %s", w.Code, w.Body)
	}
	if w := call(t, s, http.MethodDelete, base+"/"+added.ID, ""); w.Code != http.StatusNotFound {
		t.Errorf("second delete = %d", w.Code)
	}
	keys, err := s.AppJWKs(app)
	if err != nil || len(keys) != 1 || keys[0].ID != second.ID {
		t.Errorf("AppJWKs = %+v, %v", keys, err)
	}
}

// TestAppJWKSCapAndScopes: an app holds at most 50 keys; reads need okta.apps.read (or
// .manage), writes okta.apps.manage.
func TestAppJWKSCapAndScopes(t *testing.T) {
	s := New(Options{Token: token})
	const app = "0oahookjwtapp0000000"
	if err := s.AddClient(ClientSpec{ClientID: app, GrantTypes: []string{GrantClientCredentials}, TokenEndpointAuthMethod: ClientAuthPrivateKeyJWT}); err != nil {
		t.Fatal(err)
	}
	hk, err := s.AddHookKey("k")
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxAppJWKs {
		key := hk.PublicKey
		key.KeyID = "kid-" + string(rune('A'+i/26)) + string(rune('a'+i%26))
		if _, err := s.AddAppJWK(app, key); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
	key := hk.PublicKey
	if _, err := s.AddAppJWK(app, key); err == nil || !strings.Contains(err.Error(), causeJWKTooMany) {
		t.Errorf("key 51: %v, want %q", err, causeJWKTooMany)
	}
	if _, err := s.AddAppJWK(app, jose.JSONWebKey{Key: []byte("x")}); err == nil {
		t.Error("a non-RSA key was added")
	}

	// Scopes, as the management API checks them for a service app's token.
	path := "/api/v1/apps/" + app + "/credentials/jwks"
	for _, tc := range []struct {
		scopes     []string
		read, save int
	}{
		{[]string{"okta.inlineHooks.manage"}, http.StatusForbidden, http.StatusForbidden},
		{[]string{"okta.apps.read"}, http.StatusOK, http.StatusForbidden},
		{[]string{"okta.apps.manage"}, http.StatusOK, http.StatusBadRequest}, // past the cap, but allowed
	} {
		tok := s.oauthTokenFor(t, tc.scopes)
		if w := call(t, s, http.MethodGet, path, "", "Authorization", "Bearer "+tok); w.Code != tc.read {
			t.Errorf("GET with %v = %d, want %d", tc.scopes, w.Code, tc.read)
		}
		if w := call(t, s, http.MethodPost, path, `{"kid":"x","kty":"RSA","e":"AQAB","n":"AQAB"}`, "Authorization", "Bearer "+tok); w.Code != tc.save {
			t.Errorf("POST with %v = %d, want %d", tc.scopes, w.Code, tc.save)
		}
	}
}

// oauthTokenFor is a management API access token with these scopes, as the org token endpoint
// would issue a service app that was granted them.
func (s *Sim) oauthTokenFor(t *testing.T, scopes []string) string {
	t.Helper()
	tok := "test-token-" + strings.Join(scopes, "-")
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	s.oauth.tokens[tok] = accessToken{clientID: "0oaoperator", scopes: scopes, expires: s.now().Add(time.Hour)}
	return tok
}

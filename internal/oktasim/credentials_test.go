package oktasim

import (
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestAuthServerSigningCredentials: authorization servers carry credentials.signing as Okta
// returns them, and its kid is the JWKS key that signs the server's tokens.
func TestAuthServerSigningCredentials(t *testing.T) {
	created := time.Date(2026, 5, 17, 22, 25, 57, 0, time.UTC)
	env := newMintEnvWith(t, Options{Now: func() time.Time { return created }})
	other, err := env.sim.AddAuthServer(AuthServerSpec{Name: "other", Audiences: []string{"api://other"}})
	if err != nil {
		t.Fatal(err)
	}
	type signing struct {
		RotationMode, LastRotated, NextRotation, KID, Use string
	}
	type server struct {
		ID          string
		Credentials struct{ Signing signing }
	}
	got := decodeJSON[server](t, call(t, env.sim, http.MethodGet, orgURL+"/api/v1/authorizationServers/default", ""))
	jwks := decodeJSON[jose.JSONWebKeySet](t, call(t, env.sim, http.MethodGet, orgURL+"/oauth2/default/v1/keys", "", "Authorization", ""))
	want := signing{RotationMode: "AUTO", LastRotated: "2026-05-17T22:25:57.000Z", NextRotation: "2026-08-15T22:25:57.000Z",
		KID: jwks.Keys[0].KeyID, Use: "sig"}
	if got.Credentials.Signing != want {
		t.Errorf("credentials.signing = %+v, want %+v", got.Credentials.Signing, want)
	}

	// A token the server mints carries that kid.
	env.hook.set(nil)
	raw := decodeJSON[tokenBody](t, tokenCall(t, env.sim, password("openid"))).AccessToken
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if kid := tok.Headers[0].KeyID; kid != want.KID {
		t.Errorf("token kid %q, credentials kid %q", kid, want.KID)
	}

	// The list carries them too, each server its own key.
	list := decodeJSON[[]server](t, call(t, env.sim, http.MethodGet, orgURL+"/api/v1/authorizationServers", ""))
	kids := map[string]string{}
	for _, s := range list {
		kids[s.ID] = s.Credentials.Signing.KID
	}
	if kids[DefaultAuthServerID] != want.KID || kids[other.ID] == "" || kids[other.ID] == want.KID {
		t.Errorf("listed kids = %v", kids)
	}
}

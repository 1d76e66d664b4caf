package okta_test

// Contract tests for OAuth 2.0 hook authentication (issue 13): the hook keys API and inline hooks
// with an OAUTH channel, through the real client (SDK v2's request executor, own wire types)
// against the simulator over HTTPS.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

const (
	hookAS        = "aushookcallers000000"
	hookScope     = "tokenhook.call"
	hookAudience  = "api://tokenhook"
	secretApp     = "0oahooksecretapp0000"
	secretAppKey  = "the-service-app-secret"
	jwtApp        = "0oahookjwtapp0000000"
	oauthHookName = "patients-oauth"
)

func secretChannel(tokenURL string) *okta.OAuthChannel {
	return &okta.OAuthChannel{AuthType: okta.AuthTypeClientSecretPost, ClientID: secretApp, ClientSecret: secretAppKey,
		TokenURL: tokenURL, Scope: hookScope}
}

func oauthHook(url string, o *okta.OAuthChannel) okta.InlineHook {
	return okta.InlineHook{Name: oauthHookName, URL: url, OAuth: o,
		Headers: []okta.Header{{Key: "X-Tokenhook-Owner", Value: "default/patients"}}}
}

func TestHookKeysContract(t *testing.T) {
	e := newEnv(t, oktasim.Options{HookKeyLimit: 2})
	ctx := context.Background()

	k, err := e.client.CreateHookKey(ctx, "tokenhook-default-patients")
	if err != nil {
		t.Fatalf("CreateHookKey: %v", err)
	}
	if !strings.HasPrefix(k.ID, "HKY") || len(k.ID) != 20 || k.KeyID == "" || k.IsUsed || k.Name != "tokenhook-default-patients" {
		t.Errorf("created key %+v is not Okta-shaped", k)
	}
	if k.PublicKey == nil || k.PublicKey.KeyID != k.KeyID || k.PublicKey.Type != "RSA" {
		t.Fatalf("created key's public key = %+v", k.PublicKey)
	}
	pub, err := k.PublicKey.RSA()
	if err != nil || pub.N.BitLen() != 2048 || pub.E != 65537 {
		t.Fatalf("public key: %v (%v)", err, pub)
	}
	stored, err := e.sim.HookKey(k.ID)
	if err != nil || !pub.Equal(stored.PublicKey.Key) {
		t.Errorf("the client's public key is not the simulator's: %v", err)
	}

	got, err := e.client.GetHookKey(ctx, k.ID)
	want := *k
	want.PublicKey = nil
	if err != nil || !cmp.Equal(&want, got) {
		t.Errorf("GetHookKey = %+v, %v; want %+v", got, err, want)
	}
	if found, err := e.client.FindHookKeyByName(ctx, k.Name); err != nil || found.ID != k.ID {
		t.Errorf("FindHookKeyByName = %+v, %v", found, err)
	}
	if _, err := e.client.FindHookKeyByName(ctx, "nope"); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("FindHookKeyByName(nope) = %v, want ErrNotFound", err)
	}
	if pk, err := e.client.GetPublicHookKey(ctx, k.KeyID); err != nil || *pk != *k.PublicKey {
		t.Errorf("GetPublicHookKey = %+v, %v; want %+v", pk, err, k.PublicKey)
	}
	if _, err := e.client.GetPublicHookKey(ctx, k.ID); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("GetPublicHookKey by the key's ID instead of its keyId = %v, want ErrNotFound", err)
	}

	// Names are unique, and an org has at most HookKeyLimit keys (Okta: 50): both terminal.
	_, err = e.client.CreateHookKey(ctx, k.Name)
	if !okta.IsTerminal(err) {
		t.Errorf("duplicate name: %v, want terminal", err)
	}
	wantAPIError(t, err, http.StatusBadRequest, "E0000001")
	second, err := e.client.CreateHookKey(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.CreateHookKey(ctx, "third")
	wantAPIError(t, err, http.StatusBadRequest, "E0000001")
	keys, err := e.client.ListHookKeys(ctx)
	if err != nil {
		t.Fatalf("ListHookKeys: %v", err)
	}
	var ids []string
	for _, x := range keys {
		ids = append(ids, x.ID)
		if x.PublicKey != nil {
			t.Errorf("listed key %s carries a public key: Okta's list answers none", x.ID)
		}
	}
	if !cmp.Equal(ids, []string{k.ID, second.ID}) {
		t.Errorf("ListHookKeys IDs = %v", ids)
	}

	if err := e.client.DeleteHookKey(ctx, second.ID); err != nil {
		t.Fatalf("DeleteHookKey: %v", err)
	}
	if _, err := e.client.GetHookKey(ctx, second.ID); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("GetHookKey after delete = %v, want ErrNotFound", err)
	}
	if _, err := e.client.GetPublicHookKey(ctx, second.KeyID); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("GetPublicHookKey after delete = %v, want ErrNotFound", err)
	}
	if err := e.client.DeleteHookKey(ctx, second.ID); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("second DeleteHookKey = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"../inlineHooks", "HKY?x=1", ""} {
		if _, err := e.client.GetHookKey(ctx, bad); !errors.Is(err, okta.ErrInvalid) {
			t.Errorf("GetHookKey(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestOAuthChannelContract: a hook with an OAUTH channel reads back with its OAuth config and
// no secret, moves between channel types by update, and keeps its hook key in use.
func TestOAuthChannelContract(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	tokenURL := e.srv.URL + "/oauth2/" + hookAS + "/v1/token"

	h, err := e.client.CreateInlineHook(ctx, oauthHook("https://hooks.example.com/tokenHook", secretChannel(tokenURL)))
	if err != nil {
		t.Fatalf("CreateInlineHook(OAUTH): %v", err)
	}
	want := oauthHook("https://hooks.example.com/tokenHook", secretChannel(tokenURL))
	want.ID, want.Status, want.OAuth.ClientSecret = h.ID, okta.StatusActive, ""
	if diff := cmp.Diff(&want, h); diff != "" {
		t.Errorf("created OAUTH hook (-want +got):\n%s", diff)
	}
	if stored, _ := e.sim.Hook(h.ID); stored.Channel.OAuth == nil || stored.Channel.OAuth.ClientSecret != secretAppKey {
		t.Fatalf("the simulator did not store the client secret: %+v", stored.Channel)
	}
	for _, path := range []string{"/api/v1/inlineHooks", "/api/v1/inlineHooks/" + h.ID} {
		if body := rawGet(t, e, path); strings.Contains(body, secretAppKey) || strings.Contains(body, "clientSecret") {
			t.Errorf("GET %s answered the client secret: %s", path, body)
		}
	}
	got, err := e.client.GetInlineHook(ctx, h.ID)
	if err != nil || !cmp.Equal(&want, got) {
		t.Errorf("GetInlineHook = %+v, %v", got, err)
	}
	listed, err := e.client.FindInlineHookByName(ctx, oauthHookName)
	if err != nil || !cmp.Equal(&want, listed) {
		t.Errorf("FindInlineHookByName = %+v, %v", listed, err)
	}

	// The secret is write-only, so an update must send it; Okta refuses one that does not.
	noSecret := want
	noSecret.OAuth = &okta.OAuthChannel{AuthType: okta.AuthTypeClientSecretPost, ClientID: secretApp, TokenURL: tokenURL, Scope: hookScope}
	_, err = e.client.UpdateInlineHook(ctx, noSecret)
	if !okta.IsTerminal(err) {
		t.Errorf("update without the client secret: %v, want terminal", err)
	}
	wantAPIError(t, err, http.StatusBadRequest, "E0000001")

	// To private_key_jwt with a hook key, which is then in use and cannot be deleted.
	k, err := e.client.CreateHookKey(ctx, "tokenhook")
	if err != nil {
		t.Fatal(err)
	}
	jwtHook := want
	jwtHook.OAuth = &okta.OAuthChannel{AuthType: okta.AuthTypePrivateKeyJWT, ClientID: jwtApp, HookKeyID: k.ID, TokenURL: tokenURL}
	got, err = e.client.UpdateInlineHook(ctx, jwtHook)
	if err != nil {
		t.Fatalf("UpdateInlineHook(private_key_jwt): %v", err)
	}
	if diff := cmp.Diff(&jwtHook, got); diff != "" {
		t.Errorf("private_key_jwt hook (-want +got):\n%s", diff)
	}
	if got.Status != okta.StatusActive {
		t.Errorf("status after update = %s", got.Status)
	}
	if used, _ := e.client.GetHookKey(ctx, k.ID); used == nil || !used.IsUsed {
		t.Errorf("key named by a hook: %+v, want isUsed", used)
	}
	err = e.client.DeleteHookKey(ctx, k.ID)
	if !okta.IsTerminal(err) {
		t.Errorf("delete a key in use: %v, want terminal", err)
	}
	wantAPIError(t, err, http.StatusBadRequest, "E0000001")
	unknownKey := jwtHook
	unknownKey.OAuth = &okta.OAuthChannel{AuthType: okta.AuthTypePrivateKeyJWT, ClientID: jwtApp, HookKeyID: "HKYnosuchkey00000000", TokenURL: tokenURL}
	_, err = e.client.UpdateInlineHook(ctx, unknownKey)
	wantAPIError(t, err, http.StatusBadRequest, "E0000001")

	// Back to HTTP: the OAuth config is gone and the key is free.
	httpHook := desiredHook(oauthHookName)
	httpHook.ID = h.ID
	got, err = e.client.UpdateInlineHook(ctx, httpHook)
	if err != nil || got.OAuth != nil || got.AuthHeader != "Authorization" {
		t.Fatalf("UpdateInlineHook(HTTP) = %+v, %v", got, err)
	}
	if err := e.client.DeleteHookKey(ctx, k.ID); err != nil {
		t.Errorf("delete a free key: %v", err)
	}

	// Okta's refusals never carry the client secret sent.
	badURL := oauthHook("https://hooks.example.com/tokenHook", secretChannel("http://not-https.example.com/token"))
	badURL.Name = "bad-token-url"
	_, err = e.client.CreateInlineHook(ctx, badURL)
	wantAPIError(t, err, http.StatusBadRequest, "E0000001")
	if strings.Contains(err.Error(), secretAppKey) {
		t.Errorf("error %q carries the client secret", err)
	}

	// An OAUTH channel takes no auth header or secret: refused before Okta.
	both := oauthHook("https://hooks.example.com/tokenHook", secretChannel(tokenURL))
	both.AuthHeader, both.AuthSecret = "Authorization", testSecret
	if _, err := e.client.CreateInlineHook(ctx, both); !errors.Is(err, okta.ErrInvalid) {
		t.Errorf("OAUTH channel with an auth header: %v, want ErrInvalid", err)
	}
}

// oauthOrg gives the simulator what an OAUTH channel's tokenUrl needs: a custom authorization
// server with a custom scope, a rule for client_credentials, and a client_secret_post service
// app; a private_key_jwt app is added once its key exists.
func oauthOrg(t *testing.T, e *env) {
	t.Helper()
	if _, err := e.sim.AddAuthServer(oktasim.AuthServerSpec{ID: hookAS, Name: "hook callers", Audiences: []string{hookAudience}}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.AddScope(hookAS, hookScope); err != nil {
		t.Fatal(err)
	}
	p, err := e.sim.AddPolicy(hookAS, oktasim.PolicySpec{Name: "hook callers", Clients: []string{"ALL_CLIENTS"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.AddRule(hookAS, p.ID, oktasim.RuleSpec{Name: "client credentials", Conditions: oktasim.RuleConditions{
		Groups: oktasim.IncludeExclude{Include: []string{"EVERYONE"}}, GrantTypes: []string{oktasim.GrantClientCredentials}, Scopes: []string{hookScope},
	}, Token: oktasim.TokenActions{AccessTokenLifetimeMinutes: 15}}); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.AddClient(oktasim.ClientSpec{ClientID: secretApp, ClientSecret: secretAppKey,
		GrantTypes: []string{oktasim.GrantClientCredentials}, TokenEndpointAuthMethod: oktasim.ClientAuthSecretPost}); err != nil {
		t.Fatal(err)
	}
}

// bearerHook is a hook server that accepts only a Bearer token it can verify as the operator's
// hook server does: RS256 by a key of the issuer's JWKS (fetched over HTTPS), iss, aud, exp,
// cid and the custom scope.
type bearerHook struct {
	*httptest.Server
	accepted, refused atomic.Int32
}

func newBearerHook(t *testing.T, e *env, clientID string) *bearerHook {
	t.Helper()
	issuer := e.srv.URL + "/oauth2/" + hookAS
	b := &bearerHook{}
	b.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := verifyBearer(r, e.srv.Client, issuer, clientID); err != nil {
			b.refused.Add(1)
			t.Logf("hook refused the call: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b.accepted.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"commands":[]}`)
	}))
	t.Cleanup(b.Close)
	return b
}

func verifyBearer(r *http.Request, client *http.Client, issuer, clientID string) error {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return errors.New("no Bearer token")
	}
	resp, err := client.Get(issuer + "/v1/keys")
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	var keys jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&keys); err != nil {
		return err
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return err
	}
	var std jwt.Claims
	var all struct {
		CID string   `json:"cid"`
		SCP []string `json:"scp"`
	}
	if err := tok.Claims(keys, &std, &all); err != nil {
		return err
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{hookAudience}, Time: time.Now()}, 30*time.Second); err != nil {
		return err
	}
	if std.Expiry == nil || all.CID != clientID || !slices.Contains(all.SCP, hookScope) {
		return errors.New("wrong cid, scp or no exp")
	}
	return nil
}

// TestOAuthChannelEndToEnd: the client sets up each kind of OAUTH channel, the simulator gets
// an access token at the channel's tokenUrl (its own authorization server) and calls the hook
// with it, and the hook verifies it; with a wrong client secret, or a hook key the app does not
// know, Okta gets no token and the call fails without reaching the hook.
func TestOAuthChannelEndToEnd(t *testing.T) {
	for _, authType := range []string{okta.AuthTypeClientSecretPost, okta.AuthTypePrivateKeyJWT} {
		t.Run(authType, func(t *testing.T) {
			var hookClient atomic.Pointer[http.Client]
			e := newEnv(t, oktasim.Options{HookClient: &http.Client{Transport: roundTripperFunc(func(r *http.Request) (*http.Response, error) {
				return hookClient.Load().Transport.RoundTrip(r)
			})}})
			ctx := context.Background()
			oauthOrg(t, e)
			tokenURL := e.srv.URL + "/oauth2/" + hookAS + "/v1/token"
			channel, clientID := secretChannel(tokenURL), secretApp
			var badChannel *okta.OAuthChannel
			if authType == okta.AuthTypePrivateKeyJWT {
				k, err := e.client.CreateHookKey(ctx, "tokenhook")
				if err != nil {
					t.Fatal(err)
				}
				// The admin registers the hook key's public key with the service app.
				pk, err := e.client.GetPublicHookKey(ctx, k.KeyID)
				if err != nil {
					t.Fatal(err)
				}
				pub, err := pk.RSA()
				if err != nil {
					t.Fatal(err)
				}
				if err := e.sim.AddClient(oktasim.ClientSpec{ClientID: jwtApp, GrantTypes: []string{oktasim.GrantClientCredentials},
					TokenEndpointAuthMethod: oktasim.ClientAuthPrivateKeyJWT,
					JWKS:                    []jose.JSONWebKey{{Key: pub, KeyID: pk.KeyID, Algorithm: string(jose.RS256), Use: "sig"}}}); err != nil {
					t.Fatal(err)
				}
				channel = &okta.OAuthChannel{AuthType: okta.AuthTypePrivateKeyJWT, ClientID: jwtApp, HookKeyID: k.ID, TokenURL: tokenURL, Scope: hookScope}
				clientID = jwtApp
				unregistered, err := e.client.CreateHookKey(ctx, "unregistered")
				if err != nil {
					t.Fatal(err)
				}
				badChannel = &okta.OAuthChannel{AuthType: okta.AuthTypePrivateKeyJWT, ClientID: jwtApp, HookKeyID: unregistered.ID, TokenURL: tokenURL, Scope: hookScope}
			} else {
				badChannel = secretChannel(tokenURL)
				badChannel.ClientSecret = "not-the-secret"
			}
			hook := newBearerHook(t, e, clientID)
			hookClient.Store(hook.Client())

			h, err := e.client.CreateInlineHook(ctx, oauthHook(hook.URL+"/tokenHook", channel))
			if err != nil {
				t.Fatal(err)
			}
			const payload = `{"eventType":"com.okta.oauth2.tokens.transform","data":{}}`
			for range 2 {
				if raw, err := e.client.ExecuteInlineHook(ctx, h.ID, []byte(payload)); err != nil || strings.TrimSpace(string(raw)) != `{"commands":[]}` {
					t.Fatalf("ExecuteInlineHook = %s, %v", raw, err)
				}
			}
			if hook.accepted.Load() != 2 || hook.refused.Load() != 0 {
				t.Errorf("hook accepted %d, refused %d calls; want 2 accepted", hook.accepted.Load(), hook.refused.Load())
			}
			tokenCalls := 0
			for _, c := range e.sim.Calls() {
				if c.Endpoint == oktasim.EndpointToken && c.Status == http.StatusOK {
					tokenCalls++
				}
			}
			if tokenCalls != 1 {
				t.Errorf("%d token requests for two calls, want 1: Okta reuses the token until it expires", tokenCalls)
			}

			bad := oauthHook(hook.URL+"/tokenHook", badChannel)
			bad.ID = h.ID
			if _, err := e.client.UpdateInlineHook(ctx, bad); err != nil {
				t.Fatal(err)
			}
			_, err = e.client.ExecuteInlineHook(ctx, h.ID, []byte(payload))
			ae := wantAPIError(t, err, http.StatusBadRequest, "E0000001")
			causes := strings.Join(ae.ErrorCauses, " ")
			if !okta.IsTerminal(err) || !strings.Contains(causes, "invalid_client") {
				t.Errorf("execute without a token: %v (causes %q), want a terminal error naming invalid_client", err, causes)
			}
			if strings.Contains(err.Error(), "not-the-secret") || strings.Contains(err.Error(), secretAppKey) {
				t.Errorf("error %q carries a client secret", err)
			}
			if hook.accepted.Load() != 2 || hook.refused.Load() != 0 {
				t.Errorf("the hook was reached without a token: accepted %d, refused %d", hook.accepted.Load(), hook.refused.Load())
			}
		})
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestAppJWKSContract: an app's JWKS through the real client: a hook key's public key is added
// (ACTIVE, RS256, its kid), listed, makes the app's private_key_jwt assertions verify, and is
// deactivated then deleted; Okta's refusals are terminal.
func TestAppJWKSContract(t *testing.T) {
	e := newEnv(t, oktasim.Options{})
	ctx := context.Background()
	if err := e.sim.AddClient(oktasim.ClientSpec{ClientID: jwtApp, GrantTypes: []string{oktasim.GrantClientCredentials},
		TokenEndpointAuthMethod: oktasim.ClientAuthPrivateKeyJWT}); err != nil {
		t.Fatal(err)
	}
	k, err := e.client.CreateHookKey(ctx, "tokenhook")
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := e.client.ListAppJWKs(ctx, jwtApp); err != nil || len(keys) != 0 {
		t.Fatalf("ListAppJWKs of a new app = %v, %v", keys, err)
	}
	added, err := e.client.AddAppJWK(ctx, jwtApp, *k.PublicKey)
	if err != nil {
		t.Fatalf("AddAppJWK: %v", err)
	}
	want := &okta.AppJWK{ID: added.ID, KeyID: k.KeyID, Status: okta.JWKActive, Type: "RSA", Use: "sig", N: k.PublicKey.N, E: k.PublicKey.E}
	if diff := cmp.Diff(want, added); diff != "" || !strings.HasPrefix(added.ID, "pks") {
		t.Errorf("added JWK (-want +got):\n%s", diff)
	}
	stored, err := e.sim.AppJWKs(jwtApp)
	if err != nil || len(stored) != 1 || stored[0].Key.Algorithm != "RS256" || stored[0].Key.KeyID != k.KeyID {
		t.Fatalf("the simulator's JWKS %+v, %v", stored, err)
	}
	pub, _ := k.PublicKey.RSA()
	if !pub.Equal(stored[0].Key.Key) {
		t.Error("the key in the app's JWKS is not the hook key's public key")
	}
	listed, err := e.client.ListAppJWKs(ctx, jwtApp)
	if err != nil || len(listed) != 1 || !cmp.Equal(want, listed[0]) {
		t.Errorf("ListAppJWKs = %+v, %v", listed, err)
	}
	if okta.AppJWKWithKeyID(listed, k.KeyID) == nil || okta.AppJWKWithKeyID(listed, "other") != nil {
		t.Error("AppJWKWithKeyID")
	}

	// A kid twice is refused; so is deleting an ACTIVE key, and deactivating the only one.
	_, err = e.client.AddAppJWK(ctx, jwtApp, *k.PublicKey)
	if ae := wantAPIError(t, err, http.StatusBadRequest, "E0000001"); !okta.IsTerminal(err) || !strings.Contains(strings.Join(ae.ErrorCauses, " "), "unique `kid`") {
		t.Errorf("a kid twice: %v", err)
	}
	wantAPIError(t, e.client.DeleteAppJWK(ctx, jwtApp, added.ID), http.StatusBadRequest, "E0000001")
	_, err = e.client.DeactivateAppJWK(ctx, jwtApp, added.ID)
	wantAPIError(t, err, http.StatusBadRequest, "E0000001")

	second, err := e.client.CreateHookKey(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.AddAppJWK(ctx, jwtApp, *second.PublicKey); err != nil {
		t.Fatal(err)
	}
	off, err := e.client.DeactivateAppJWK(ctx, jwtApp, added.ID)
	if err != nil || off.Status != okta.JWKInactive {
		t.Fatalf("DeactivateAppJWK = %+v, %v", off, err)
	}
	if again, err := e.client.DeactivateAppJWK(ctx, jwtApp, added.ID); err != nil || again.Status != okta.JWKInactive {
		t.Errorf("second DeactivateAppJWK = %+v, %v, want idempotent", again, err)
	}
	if err := e.client.DeleteAppJWK(ctx, jwtApp, added.ID); err != nil {
		t.Fatalf("DeleteAppJWK: %v", err)
	}
	if err := e.client.DeleteAppJWK(ctx, jwtApp, added.ID); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("second DeleteAppJWK = %v, want ErrNotFound", err)
	}
	if _, err := e.client.ListAppJWKs(ctx, "0oanosuchapp00000000"); !errors.Is(err, okta.ErrNotFound) {
		t.Errorf("ListAppJWKs of no app = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"../hook-keys", "0oa?x=1", ""} {
		if _, err := e.client.ListAppJWKs(ctx, bad); !errors.Is(err, okta.ErrInvalid) {
			t.Errorf("ListAppJWKs(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestAppJWKSNeedsAppsScopes: a service app without okta.apps.read gets 403 on the list, one
// with okta.apps.read 403 on the add: terminal errors the controller reports.
func TestAppJWKSNeedsAppsScopes(t *testing.T) {
	key, _ := testKeys(t)
	for _, tc := range []struct {
		scopes     []string
		list, post int
	}{
		{okta.DefaultScopes, http.StatusForbidden, http.StatusForbidden},
		{append(slices.Clone(okta.DefaultScopes), "okta.apps.read"), 0, http.StatusForbidden},
		{append(slices.Clone(okta.DefaultScopes), "okta.apps.manage"), 0, 0},
	} {
		t.Run(strings.Join(tc.scopes, " "), func(t *testing.T) {
			e := newKeyEnv(t, key, key, tc.scopes, tc.scopes)
			ctx := context.Background()
			if err := e.sim.AddClient(oktasim.ClientSpec{ClientID: jwtApp, GrantTypes: []string{oktasim.GrantClientCredentials},
				TokenEndpointAuthMethod: oktasim.ClientAuthPrivateKeyJWT}); err != nil {
				t.Fatal(err)
			}
			hk, err := e.sim.AddHookKey("k")
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.client.ListAppJWKs(ctx, jwtApp)
			if tc.list == 0 && err != nil || tc.list != 0 && !okta.IsTerminal(err) {
				t.Fatalf("ListAppJWKs = %v, want status %d", err, tc.list)
			}
			if tc.list != 0 {
				wantAPIError(t, err, tc.list, "")
			}
			pub := &okta.PublicKey{KeyID: hk.KeyID, Type: "RSA"}
			raw, _ := json.Marshal(hk.PublicKey)
			var jwk struct{ N, E string }
			_ = json.Unmarshal(raw, &jwk)
			pub.N, pub.E = jwk.N, jwk.E
			_, err = e.client.AddAppJWK(ctx, jwtApp, *pub)
			if tc.post == 0 && err != nil || tc.post != 0 && !okta.IsTerminal(err) {
				t.Fatalf("AddAppJWK = %v, want status %d", err, tc.post)
			}
		})
	}
}

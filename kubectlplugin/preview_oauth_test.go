package kubectlplugin

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/selfsigned"
)

const (
	callerID     = "0oacaller"
	callerSecret = "the-callers-client-secret"
	hookScope    = "tokenhook.call"
	hookAudience = "api://default"
)

// testIssuer is an Okta authorization server as far as an OAUTH channel
// uses it, over HTTPS: /oauth2/<id>/v1/token answers the client credentials
// grant with client_secret_post for one app, and /oauth2/<id>/v1/keys
// serves the key its RS256 access tokens are signed with.
type testIssuer struct {
	srv   *httptest.Server
	caPEM []byte
	key   *rsa.PrivateKey

	mu     sync.Mutex
	forms  []url.Values // the token requests
	tokens []string     // the tokens issued
}

var issuerKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func startIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := issuerKey()
	if err != nil {
		t.Fatal(err)
	}
	iss := &testIssuer{key: key}
	iss.srv = httptest.NewTLSServer(http.HandlerFunc(iss.serve))
	t.Cleanup(iss.srv.Close)
	iss.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.srv.Certificate().Raw})
	return iss
}

// issuer is the issuer of authorization server id.
func (iss *testIssuer) issuer(id string) string { return iss.srv.URL + "/oauth2/" + id }

func (iss *testIssuer) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/oauth2/")
	as, endpoint, _ := strings.Cut(rest, "/")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case ok && endpoint == "v1/keys" && r.Method == http.MethodGet:
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &iss.key.PublicKey, KeyID: "test-key", Algorithm: string(jose.RS256), Use: "sig"}}})
	case ok && endpoint == "v1/token" && r.Method == http.MethodPost:
		iss.token(w, r, as)
	default:
		http.NotFound(w, r)
	}
}

func (iss *testIssuer) token(w http.ResponseWriter, r *http.Request, as string) {
	if err := r.ParseForm(); err != nil || len(r.URL.RawQuery) > 0 {
		oauthErr(w, http.StatusBadRequest, "invalid_request", "The request is malformed.")
		return
	}
	iss.mu.Lock()
	iss.forms = append(iss.forms, r.PostForm)
	iss.mu.Unlock()
	f := r.PostForm
	switch {
	case f.Get("grant_type") != "client_credentials":
		oauthErr(w, http.StatusBadRequest, "unsupported_grant_type", "The grant type is not supported.")
		return
	case f.Get("client_id") != callerID || f.Get("client_secret") != callerSecret:
		oauthErr(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed. Either the client or the client credentials are invalid.")
		return
	case f.Get("scope") != hookScope:
		oauthErr(w, http.StatusBadRequest, "invalid_scope", "One or more scopes are not configured for the authorization server resource.")
		return
	}
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"ver": 1, "jti": "AT.preview-test", "iss": iss.issuer(as), "aud": hookAudience, "sub": callerID,
		"cid": callerID, "scp": []string{hookScope}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: iss.key}, (&jose.SignerOptions{}).WithHeader("kid", "test-key"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	jws, err := signer.Sign(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	token, _ := jws.CompactSerialize()
	iss.mu.Lock()
	iss.tokens = append(iss.tokens, token)
	iss.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": token, "scope": hookScope})
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (iss *testIssuer) requests() ([]url.Values, []string) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return append([]url.Values(nil), iss.forms...), append([]string(nil), iss.tokens...)
}

// oauthHookAuth is a TokenHook's spec.hookAuth for the test issuer's app.
func oauthHookAuth() v1.HookAuth {
	return v1.HookAuth{Type: v1.HookAuthOAuth, OAuth: &v1.HookOAuth{
		ClientID: callerID, Scope: hookScope, Audience: hookAudience,
		ClientSecretPost: &v1.ClientSecretPost{SecretRef: v1.SecretKeyRef{Name: "hook-caller", Key: "secret"}},
	}}
}

// oauthWorld is a TokenHook with OAuth hook auth whose org is the test
// issuer, with pods in mode (oauth or both) that check the issuer's tokens
// for issuerID, and the auth Secret holding the manager's Okta CA.
func oauthWorld(t *testing.T, iss *testIssuer, mode, issuerID string, edits ...func(*world)) world {
	t.Helper()
	cfg := idOnly
	cfg.authMode = mode
	cfg.oauth = &oauthConfig{issuer: iss.issuer(issuerID), audience: hookAudience, clientID: callerID, scope: hookScope, caPEM: iss.caPEM}
	srv := startHookServer(t, cfg, false)
	w := world{
		th: testTokenHook(func(th *v1.TokenHook) {
			th.Spec.Okta.OrgURL = iss.srv.URL
			th.Spec.HookAuth = oauthHookAuth()
		}),
		cfg: cfg, server: srv,
		pods: []client.Object{testHookPod(testPod, true, time.Now(), cfg)},
		secrets: map[string]map[string]string{
			"patients-hookserver-auth": {"current": hookSecret, "previous": hookSecret, "okta-ca.crt": string(iss.caPEM)},
			"hook-caller":              {"secret": callerSecret},
			"hook-tls":                 {"tls.crt": string(srv.cert.CertPEM)},
		},
	}
	for _, e := range edits {
		e(&w)
	}
	return w
}

func TestPreviewOAuth(t *testing.T) {
	iss := startIssuer(t)
	header := "TokenHook clinic/patients, hook server pod clinic/" + testPod + ", login ada@example.com\n" + tlsVerify
	oauthAuth := func(issuer string) string {
		return "Auth: an OAuth access token of client 0oacaller, scope tokenhook.call, from " + issuer +
			"/v1/token (client_secret_post with Secret clinic/hook-caller key \"secret\")\n"
	}
	cases := map[string]struct {
		reason string
		world  world
		want   string // stdout
		// wantRequests is how many token requests the issuer got.
		wantRequests int
	}{
		"OAuth": {
			reason: "Pods that accept only OAuth get an access token of the TokenHook's app, from <orgURL>/oauth2/<id>/v1/token.",
			world:  oauthWorld(t, iss, authModeOAuth, "default"),
			want:   header + oauthAuth(iss.issuer("default")) + "ID token:  patientID: \"P-1001\"\n",
			// The Okta CA is the auth Secret's: the system's roots do not hold the test issuer's.
			wantRequests: 1,
		},
		"OwnAuthorizationServer": {
			reason: "oauth.authorizationServerID picks the issuer of the hook's tokens, not the TokenHook's.",
			world: oauthWorld(t, iss, authModeOAuth, "aushooks", func(w *world) {
				w.th.Spec.HookAuth.OAuth.AuthorizationServerID = "aushooks"
			}),
			want:         header + oauthAuth(iss.issuer("aushooks")) + "ID token:  patientID: \"P-1001\"\n",
			wantRequests: 1,
		},
		"CustomIssuer": {
			reason: "oauth.issuer (a custom domain) is where the token is got, whatever the org URL.",
			world: oauthWorld(t, iss, authModeOAuth, "custom", func(w *world) {
				w.th.Spec.Okta.OrgURL = "https://dev-1.okta.com"
				w.th.Spec.HookAuth.OAuth.Issuer = iss.issuer("custom")
			}),
			want:         header + oauthAuth(iss.issuer("custom")) + "ID token:  patientID: \"P-1001\"\n",
			wantRequests: 1,
		},
		"Switching": {
			reason: "Pods in mode both (Okta's channel switching) still take the header secret: no token is asked for.",
			world:  oauthWorld(t, iss, authModeBoth, "default"),
			want: header + "Auth: the header secret of Secret clinic/patients-hookserver-auth in Authorization " +
				"(the pod accepts it and OAuth access tokens while Okta's channel switches)\n" + "ID token:  patientID: \"P-1001\"\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before, _ := iss.requests()
			env, _ := tc.world.env(t)
			out, errOut, err := runCmd(t, env, "preview", testName, "-n", testNS, "--login", "ada@example.com", "--token", "id")
			if err != nil {
				t.Fatalf("%s\npreview: %v", tc.reason, err)
			}
			if diff := cmp.Diff(tc.want, out); diff != "" {
				t.Errorf("%s\npreview output (-want +got):\n%s", tc.reason, diff)
			}
			forms, tokens := iss.requests()
			forms = forms[len(before):]
			if len(forms) != tc.wantRequests {
				t.Fatalf("%s\n%d token requests, want %d", tc.reason, len(forms), tc.wantRequests)
			}
			for _, f := range forms {
				want := url.Values{"grant_type": {"client_credentials"}, "client_id": {callerID}, "client_secret": {callerSecret}, "scope": {hookScope}}
				if diff := cmp.Diff(want, f); diff != "" {
					t.Errorf("%s\nthe token request's form (-want +got):\n%s", tc.reason, diff)
				}
			}
			for _, secret := range append(tokens, callerSecret, hookSecret) {
				if strings.Contains(out+errOut, secret) {
					t.Errorf("%s\npreview printed a secret or token:\n%s%s", tc.reason, out, errOut)
				}
				if strings.Contains(tc.world.server.logs.String(), secret) {
					t.Errorf("%s\nthe hook server logged a secret or token", tc.reason)
				}
			}
		})
	}
}

func TestPreviewOAuthErrors(t *testing.T) {
	iss := startIssuer(t)
	other, err := selfsigned.New(selfsigned.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	tokenURL := iss.issuer("default") + "/v1/token"
	cases := map[string]struct {
		reason string
		world  world
		want   string // in the error
	}{
		"WrongClientSecret": {
			reason: "A client secret the app does not have: the token endpoint's error, and what to check, without the secret.",
			world: oauthWorld(t, iss, authModeOAuth, "default", func(w *world) {
				w.secrets["hook-caller"] = map[string]string{"secret": "an-old-client-secret"}
			}),
			want: "get an access token for TokenHook clinic/patients from " + tokenURL + " as client 0oacaller, scope tokenhook.call: " +
				"the token endpoint answered 401 invalid_client: Client authentication failed. Either the client or the client credentials are invalid. " +
				"(check the client secret in Secret clinic/hook-caller key \"secret\", which spec.hookAuth.oauth.clientSecretPost.secretRef names, and that the app authenticates with client_secret_post)",
		},
		"ScopeNotGranted": {
			reason: "A scope the authorization server refuses: the error says what Okta needs.",
			world: oauthWorld(t, iss, authModeOAuth, "default", func(w *world) {
				w.th.Spec.HookAuth.OAuth.Scope = "other.scope"
			}),
			want: "the token endpoint answered 400 invalid_scope: One or more scopes are not configured for the authorization server resource. " +
				"(the authorization server must define scope other.scope, and an access policy rule must grant it to the app)",
		},
		"NoClientSecretPost": {
			reason: "OAuth without a client secret (private_key_jwt: Okta holds the key) cannot be previewed: why, and what to do instead.",
			world: oauthWorld(t, iss, authModeOAuth, "default", func(w *world) {
				w.th.Spec.HookAuth.OAuth.ClientSecretPost = nil
			}),
			want: "TokenHook clinic/patients: Okta gets the hook's access tokens without a client secret (spec.hookAuth.oauth has no clientSecretPost; " +
				"with privateKeyJWT only Okta holds the private key), so preview cannot get a token its hook server pods accept as client 0oacaller; " +
				"see Okta's own call in the HookReachable condition of kubectl tokenhook status patients, or sign in through Okta and read the claim in the tokens",
		},
		"SwitchingBackToHeader": {
			reason: "Pods still accepting only OAuth while the spec went back to Header: the rollout is named.",
			world: oauthWorld(t, iss, authModeOAuth, "default", func(w *world) {
				w.th.Spec.HookAuth = v1.HookAuth{Type: v1.HookAuthHeader}
			}),
			want: "hook server pod clinic/" + testPod + " accepts only OAuth access tokens, but TokenHook clinic/patients has spec.hookAuth.type Header: " +
				"its switch back to header auth is rolling out; try again once the pods accept the header secret too (kubectl tokenhook status patients)",
		},
		"NoClientSecretSecret": {
			reason: "A missing client secret Secret is named with the field.",
			world:  oauthWorld(t, iss, authModeOAuth, "default", func(w *world) { delete(w.secrets, "hook-caller") }),
			want:   "TokenHook clinic/patients: spec.hookAuth.oauth.clientSecretPost.secretRef: Secret clinic/hook-caller not found",
		},
		"EmptyClientSecret": {
			reason: "A client secret Secret without the key is named with the field and the key.",
			world: oauthWorld(t, iss, authModeOAuth, "default", func(w *world) {
				w.secrets["hook-caller"] = map[string]string{"other": callerSecret}
			}),
			want: `TokenHook clinic/patients: spec.hookAuth.oauth.clientSecretPost.secretRef: Secret clinic/hook-caller has no non-empty key "secret"`,
		},
		"PodChecksAnotherClient": {
			reason: "A pod that still checks the previous app refuses the new app's token: the rollout is named.",
			world: oauthWorld(t, iss, authModeOAuth, "default", func(w *world) {
				cfg := w.cfg
				o := *cfg.oauth
				o.clientID = "0oaprevious"
				cfg.oauth = &o
				w.pods = []client.Object{testHookPod(testPod, true, time.Now(), cfg)}
				w.server = startHookServer(t, cfg, false)
				w.secrets["hook-tls"] = map[string]string{"tls.crt": string(w.server.cert.CertPEM)}
			}),
			want: "hook server pod clinic/" + testPod + " refused the access token of client 0oacaller, scope tokenhook.call, from " + tokenURL +
				"; the pod checks client 0oaprevious, which the TokenHook's spec no longer says: its change is rolling out, try again in a minute " +
				"(unauthorized: Missing or invalid Authorization header.)",
		},
		"OktaCAMissing": {
			reason: "A pod trusting a CA for Okta that the auth Secret does not hold: the key is named.",
			world: oauthWorld(t, iss, authModeOAuth, "default", func(w *world) {
				delete(w.secrets["patients-hookserver-auth"], "okta-ca.crt")
			}),
			want: `auth Secret clinic/patients-hookserver-auth holds no PEM certificate in "okta-ca.crt", the CA the hook server pods trust for Okta`,
		},
		"OktaNotTrusted": {
			reason: "A token endpoint whose certificate the CAs do not sign: the TLS error, and which CAs were trusted.",
			world: oauthWorld(t, iss, authModeOAuth, "default", func(w *world) {
				w.secrets["patients-hookserver-auth"]["okta-ca.crt"] = string(other.CertPEM)
			}),
			want: `as client 0oacaller (trusting the system's CAs and "okta-ca.crt" of Secret clinic/patients-hookserver-auth): Post "` + tokenURL + `": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
		},
		"UnknownAuthMode": {
			reason: "An auth mode this plugin does not know is named, and not guessed at.",
			world: oauthWorld(t, iss, authModeOAuth, "default", func(w *world) {
				cfg := w.cfg
				cfg.authMode = "mtls"
				w.pods = []client.Object{testHookPod(testPod, true, time.Now(), cfg)}
			}),
			want: "hook server pod clinic/" + testPod + " runs with --auth-mode=mtls, which this kubectl tokenhook does not know (it knows header, oauth and both): use the plugin of the operator's version",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env, _ := tc.world.env(t)
			out, errOut, err := runCmd(t, env, "preview", testName, "-n", testNS, "--login", "ada@example.com")
			if err == nil {
				t.Fatalf("%s\npreview succeeded:\n%s", tc.reason, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s\npreview error:\n  %v\nwant one containing\n  %s", tc.reason, err, tc.want)
			}
			_, tokens := iss.requests()
			for _, secret := range append(tokens, callerSecret, "an-old-client-secret", hookSecret) {
				if strings.Contains(err.Error()+out+errOut, secret) {
					t.Errorf("%s\npreview printed a secret or token: %v\n%s%s", tc.reason, err, out, errOut)
				}
			}
		})
	}
}

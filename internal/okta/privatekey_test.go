package okta_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/oktasim"
)

const serviceClientID = "0oaservice1234567890"

var (
	keysOnce sync.Once
	keyA     *rsa.PrivateKey
	keyB     *rsa.PrivateKey
)

// testKeys returns two RSA keys, made once: key generation is slow under -race.
func testKeys(t *testing.T) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if keyA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keyB, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return keyA, keyB
}

func pkcs8PEM(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// newKeyEnv registers a service app holding registered's public key and grants, and a client
// signing with signing.
func newKeyEnv(t *testing.T, registered, signing *rsa.PrivateKey, granted, requested []string) *env {
	t.Helper()
	e := newEnv(t, oktasim.Options{}, func(c *okta.Config) {
		c.APIToken = ""
		c.ClientID = serviceClientID
		c.PrivateKey = pkcs8PEM(t, signing)
		c.PrivateKeyID = "kid-1"
		c.Scopes = requested
	})
	err := e.sim.AddServiceApp(oktasim.ServiceApp{ClientID: serviceClientID, PublicKey: &registered.PublicKey, KeyID: "kid-1", Scopes: granted})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPrivateKeyAuth(t *testing.T) {
	key, _ := testKeys(t)
	e := newKeyEnv(t, key, key, okta.DefaultScopes, nil)
	ctx := context.Background()

	h := e.createHook(t)
	if _, err := e.client.GetInlineHook(ctx, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.FindPolicy(ctx, "default", "Default Policy"); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.CountCalls(oktasim.EndpointOrgToken); n != 1 {
		t.Errorf("token requests = %d, want 1: the SDK caches the access token", n)
	}
	for _, c := range e.sim.Calls() {
		if c.Endpoint == oktasim.EndpointOrgToken && c.Query != "" {
			t.Errorf("call log kept the token request's query (it holds the client assertion)")
		}
	}
}

func TestPrivateKeyAuthFailures(t *testing.T) {
	key, other := testKeys(t)
	cases := map[string]struct {
		registered, signing *rsa.PrivateKey
		granted, requested  []string
		call                func(okta.Client) error
		status              int
		code                string
	}{
		"key not registered": {
			registered: key, signing: other, granted: okta.DefaultScopes,
			call: func(c okta.Client) error {
				_, err := c.FindPolicy(context.Background(), "default", "Default Policy")
				return err
			},
			status: http.StatusUnauthorized, code: "invalid_client",
		},
		"scope not granted": {
			registered: key, signing: key, granted: []string{"okta.inlineHooks.manage"},
			call: func(c okta.Client) error {
				_, err := c.FindPolicy(context.Background(), "default", "Default Policy")
				return err
			},
			status: http.StatusBadRequest, code: "invalid_scope",
		},
		"token lacks the manage scope": {
			registered: key, signing: key, granted: []string{"okta.inlineHooks.read"}, requested: []string{"okta.inlineHooks.read"},
			call: func(c okta.Client) error {
				_, err := c.CreateInlineHook(context.Background(), desiredHook("patients"))
				return err
			},
			status: http.StatusForbidden, code: "",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newKeyEnv(t, tc.registered, tc.signing, tc.granted, tc.requested)
			err := tc.call(e.client)
			if !okta.IsTerminal(err) {
				t.Fatalf("error = %v; want terminal", err)
			}
			wantAPIError(t, err, tc.status, tc.code)
			if strings.Contains(err.Error(), "eyJ") || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error %q leaks the client assertion or the key", err)
			}
		})
	}
}

func TestPrivateKeyTokenRequestDroppedIsTransientAndRedacted(t *testing.T) {
	key, _ := testKeys(t)
	e := newKeyEnv(t, key, key, okta.DefaultScopes, nil)
	if err := e.sim.SetFaults(oktasim.EndpointOrgToken, oktasim.Faults{DropRate: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.GetInlineHook(context.Background(), "cal00000000000000000")
	if !okta.IsTransient(err) {
		t.Fatalf("error = %v; want transient", err)
	}
	if strings.Contains(err.Error(), "client_assertion") || strings.Contains(err.Error(), "eyJ") {
		t.Errorf("error %q leaks the client assertion", err)
	}
}

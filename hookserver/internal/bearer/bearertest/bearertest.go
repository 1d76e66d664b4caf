// Package bearertest is a stand-in Okta authorization server for tests: RS256
// signing keys, a JWKS served over HTTPS that counts its fetches, and tokens
// shaped like the access tokens Okta gets for an OAUTH inline hook channel.
package bearertest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The claims of a valid token, besides iss and the times.
const (
	Audience = "api://tokenhook"
	ClientID = "0oahookclient"
	Scope    = "tokenhook.call"
)

// Key is a signing key.
type Key struct {
	ID   string
	Priv *rsa.PrivateKey
}

var keyPool = struct {
	sync.Mutex
	keys []*rsa.PrivateKey
}{}

// NewKey returns an RSA 2048 key with kid id. Keys are generated once per
// test binary and handed out again under other kids, since generating is slow.
func NewKey(t testing.TB, id string, n int) *Key {
	t.Helper()
	keyPool.Lock()
	defer keyPool.Unlock()
	for len(keyPool.keys) <= n {
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		keyPool.keys = append(keyPool.keys, priv)
	}
	return &Key{ID: id, Priv: keyPool.keys[n]}
}

// JWK is the key's public half, as a JWKS serves it.
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.Priv.PublicKey, KeyID: k.ID, Algorithm: string(jose.RS256), Use: "sig"}
}

// Sign returns the compact RS256 JWS of claims, with header {"alg":"RS256","kid":k.ID} like Okta's.
func (k *Key) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	return k.SignAs(t, k.ID, claims)
}

// SignAs signs with k under another kid.
func (k *Key) SignAs(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.Priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Issuer is an authorization server: its JWKS is at URL + "/v1/keys".
type Issuer struct {
	Server *httptest.Server
	URL    string // the issuer, iss of its tokens

	mu      sync.Mutex
	keys    []*Key
	status  int           // answer to fetches, 200 unless set
	release chan struct{} // if set, fetches wait for it
	fetches atomic.Int64
}

// NewIssuer serves keys until the test ends.
func NewIssuer(t testing.TB, keys ...*Key) *Issuer {
	t.Helper()
	iss := &Issuer{keys: keys, status: http.StatusOK}
	iss.Server = httptest.NewTLSServer(http.HandlerFunc(iss.serve))
	t.Cleanup(iss.Server.Close)
	iss.URL = iss.Server.URL + "/oauth2/default"
	return iss
}

func (i *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/oauth2/default/v1/keys" {
		http.NotFound(w, r)
		return
	}
	i.fetches.Add(1)
	i.mu.Lock()
	release, status := i.release, i.status
	set := jose.JSONWebKeySet{}
	for _, k := range i.keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	i.mu.Unlock()
	if release != nil {
		<-release
	}
	if status != http.StatusOK {
		http.Error(w, "unavailable", status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

// SetKeys replaces the keys served.
func (i *Issuer) SetKeys(keys ...*Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = keys
}

// SetStatus makes fetches answer status (200: the keys).
func (i *Issuer) SetStatus(status int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.status = status
}

// Hold makes fetches wait until the returned function is called.
func (i *Issuer) Hold() (release func()) {
	ch := make(chan struct{})
	i.mu.Lock()
	i.release = ch
	i.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			i.mu.Lock()
			i.release = nil
			i.mu.Unlock()
			close(ch)
		})
	}
}

// Fetches is the number of JWKS fetches so far.
func (i *Issuer) Fetches() int { return int(i.fetches.Load()) }

// Client trusts the server's certificate.
func (i *Issuer) Client() *http.Client { return i.Server.Client() }

// CAFile writes the server's certificate as a PEM CA file.
func (i *Issuer) CAFile(t testing.TB) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "jwks-ca.crt")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.Server.Certificate().Raw})
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Claims are those of a valid token issued at now, as Okta mints one for a
// client credentials grant: it expires in an hour.
func (i *Issuer) Claims(now time.Time) map[string]any {
	return map[string]any{
		"ver": 1,
		"jti": "AT.hookcall" + now.Format("150405.000000000"),
		"iss": i.URL,
		"aud": Audience,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"cid": ClientID,
		"scp": []string{Scope},
		"sub": ClientID,
	}
}

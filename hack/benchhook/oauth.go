package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/internal/selfsigned"
)

// The OAuth case: the hook server with --auth-mode=oauth, called with
// "Authorization: Bearer <JWT>" as Okta calls an OAUTH channel. Okta reuses
// its access token until it expires, so every call carries the same token,
// and the hook server verifies it once, then finds it in its cache.
const (
	oauthAudience = "api://tokenhook"
	oauthClientID = "0oabenchhookclient00"
	oauthScope    = "tokenhook.call"
	oauthKeyID    = "bench-key-1"
)

// issuer is an authorization server's JWKS over HTTPS, in this process.
type issuer struct {
	url     string // iss; its JWKS is url + "/v1/keys"
	caFile  string
	key     *rsa.PrivateKey
	fetches atomic.Int64
	srv     *http.Server
}

// startIssuer serves the JWKS on loopback, with a self-signed certificate
// written to work as the hook server's --oauth-jwks-ca-file.
func startIssuer(work string) (*issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	cert, err := selfsigned.New(selfsigned.Options{Hosts: []string{"127.0.0.1"}, CA: true})
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
	if err != nil {
		return nil, err
	}
	iss := &issuer{caFile: filepath.Join(work, "jwks-ca.crt"), key: key}
	if err := os.WriteFile(iss.caFile, cert.CertPEM, 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	iss.url = "https://" + ln.Addr().String() + "/oauth2/aus1benchhook"
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &key.PublicKey, KeyID: oauthKeyID, Algorithm: string(jose.RS256), Use: "sig"},
	}})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth2/aus1benchhook/v1/keys", func(w http.ResponseWriter, _ *http.Request) {
		iss.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	})
	iss.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 3 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}}
	go func() {
		if err := iss.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "benchhook: JWKS server:", err)
		}
	}()
	return iss, nil
}

func (i *issuer) stop() { _ = i.srv.Close() }

// args are the hook server flags that accept this issuer's tokens.
func (i *issuer) args() []string {
	return []string{"--auth-mode", "oauth", "--oauth-issuer", i.url, "--oauth-audience", oauthAudience,
		"--oauth-client-id", oauthClientID, "--oauth-scope", oauthScope, "--oauth-jwks-ca-file", i.caFile}
}

// token is an access token shaped like the one Okta gets for an OAUTH channel
// (client credentials grant, a custom scope), valid for two hours.
func (i *issuer) token() (string, error) {
	now := time.Now()
	claims, err := json.Marshal(map[string]any{
		"ver": 1, "jti": "AT.benchhook-000000000000000000000000000000000000", "iss": i.url, "aud": oauthAudience,
		"iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(), "cid": oauthClientID, "scp": []string{oauthScope},
		"sub": oauthClientID,
	})
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: i.key},
		(&jose.SignerOptions{}).WithHeader("kid", oauthKeyID))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

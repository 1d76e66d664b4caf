// Command oktasim serves a simulated Okta org (internal/oktasim) for demos and local runs of the
// operator. It prints the org URL on stdout and serves until SIGINT or SIGTERM.
//
//	oktasim --listen 127.0.0.1:8443 --token TOKEN --tls --ca-file /tmp/oktasim-ca.pem \
//		--user alice@example.com:secret:Alice:Liddell --app 0oademo --hook-ca-file /tmp/hook-ca.pem
//
// Users (--user) and OIDC apps (--app) get tokens from the custom authorization servers, e.g.
// POST {url}/oauth2/default/v1/token with grant_type=password, which run the matching policy
// rule's token inline hook; --hook-ca-file makes the hooks' TLS certificates trusted. Requests
// may name the OpenID Connect scopes and the custom scopes defined with --scope.
package main

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokenhook/tokenhook/internal/oktasim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "oktasim:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		listen    = flag.String("listen", "127.0.0.1:8443", "address to listen on")
		token     = flag.String("token", "", "API token accepted as 'SSWS <token>' (default $OKTASIM_TOKEN)")
		useTLS    = flag.Bool("tls", false, "serve HTTPS with a new self-signed CA")
		caFile    = flag.String("ca-file", "", "with --tls, write the CA certificate (PEM) here")
		rateLimit = flag.Int("rate-limit", 0, "requests per minute before 429s; 0 = off")
		hookLimit = flag.Int("hook-limit", oktasim.DefaultHookLimit, "inline hooks per org")
		seed      = flag.Int64("seed", 1, "seed for IDs")
		clientID  = flag.String("client-id", "", "register a service app with this client ID (PrivateKey mode)")
		pubKey    = flag.String("client-public-key", "", "PEM file with the service app's RSA public key")
		keyID     = flag.String("client-key-id", "", "kid of the service app's key (optional)")
		scopes    = flag.String("client-scopes", "okta.inlineHooks.manage,okta.authorizationServers.manage", "scopes granted to the service app")
		verbose   = flag.Bool("v", false, "log every request to stderr")

		hookCA      = flag.String("hook-ca-file", "", "PEM CA certificates to trust, besides the system's, when calling token inline hooks")
		hookTimeout = flag.Duration("hook-timeout", oktasim.DefaultHookTimeout, "timeout of each token inline hook call")
		contents    orgContents
	)
	flag.Func("user", "add a user `login:password[:firstName[:lastName]]` (repeatable)", func(v string) error {
		u, err := parseUser(v)
		contents.users = append(contents.users, u)
		return err
	})
	flag.Func("app", "add an OIDC app `clientID[:clientSecret]` (repeatable; no secret: a public client)", func(v string) error {
		id, secret, _ := strings.Cut(v, ":")
		if id == "" {
			return errors.New("want clientID[:clientSecret]")
		}
		contents.apps = append(contents.apps, oktasim.ClientSpec{ClientID: id, ClientSecret: secret})
		return nil
	})
	flag.Func("app-redirect-uri", "a sign-in redirect `URI` of every --app, for authorization_code (repeatable)", func(v string) error {
		contents.redirects = append(contents.redirects, v)
		return nil
	})
	flag.Func("app-grant-type", "a grant `type` every --app may use, e.g. refresh_token (repeatable; default: the simulator's)", func(v string) error {
		contents.grantTypes = append(contents.grantTypes, v)
		return nil
	})
	flag.Func("scope", "define a custom `scope` on the default authorization server (repeatable); token requests may name no other", func(v string) error {
		contents.scopes = append(contents.scopes, v)
		return nil
	})
	flag.Parse()
	if *token == "" {
		*token = os.Getenv("OKTASIM_TOKEN")
	}
	if *token == "" && *clientID == "" {
		return errors.New("set --token (or $OKTASIM_TOKEN) or --client-id")
	}

	opts := oktasim.Options{Token: *token, HookLimit: *hookLimit, RateLimitPerMinute: *rateLimit, Seed: *seed, HookTimeout: *hookTimeout}
	if *verbose {
		opts.Logf = log.Printf
	}
	if *hookCA != "" {
		client, err := hookClient(*hookCA)
		if err != nil {
			return err
		}
		opts.HookClient = client
	}
	sim := oktasim.New(opts)
	if err := contents.populate(sim); err != nil {
		return err
	}
	if *clientID != "" {
		key, err := readPublicKey(*pubKey)
		if err != nil {
			return err
		}
		err = sim.AddServiceApp(oktasim.ServiceApp{ClientID: *clientID, PublicKey: key, KeyID: *keyID, Scopes: strings.Split(*scopes, ",")})
		if err != nil {
			return err
		}
	}

	srv, err := sim.Listen(*listen, *useTLS)
	if err != nil {
		return err
	}
	if *caFile != "" && srv.CACertPEM != nil {
		if err := os.WriteFile(*caFile, srv.CACertPEM, 0o644); err != nil {
			_ = srv.Close()
			return fmt.Errorf("write CA file: %w", err)
		}
	}
	fmt.Println(srv.URL)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// orgContents is what the flags add to the simulated org.
type orgContents struct {
	users      []oktasim.UserSpec
	apps       []oktasim.ClientSpec
	redirects  []string // of every app
	grantTypes []string // of every app; none: the simulator's defaults
	scopes     []string // custom scopes of the default authorization server
}

func (o orgContents) populate(sim *oktasim.Sim) error {
	for _, sc := range o.scopes {
		if err := sim.AddScope(oktasim.DefaultAuthServerID, sc); err != nil {
			return fmt.Errorf("--scope %s: %w", sc, err)
		}
	}
	for _, u := range o.users {
		if _, err := sim.AddUser(u); err != nil {
			return err
		}
	}
	for _, app := range o.apps {
		app.RedirectURIs, app.GrantTypes = o.redirects, o.grantTypes
		if err := sim.AddClient(app); err != nil {
			return err
		}
	}
	return nil
}

// parseUser parses login:password[:firstName[:lastName]].
func parseUser(v string) (oktasim.UserSpec, error) {
	parts := strings.SplitN(v, ":", 4)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return oktasim.UserSpec{}, errors.New("want login:password[:firstName[:lastName]]")
	}
	u := oktasim.UserSpec{Login: parts[0], Password: parts[1]}
	if len(parts) > 2 {
		u.FirstName = parts[2]
	}
	if len(parts) > 3 {
		u.LastName = parts[3]
	}
	return u, nil
}

// hookClient trusts the system's CAs and those in the PEM file.
func hookClient(path string) (*http.Client, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read hook CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("hook CA file %s: no PEM certificates", path)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: transport}, nil
}

// readPublicKey reads an RSA public key in PKIX ("PUBLIC KEY") or PKCS#1 ("RSA PUBLIC KEY") PEM.
func readPublicKey(path string) (*rsa.PublicKey, error) {
	if path == "" {
		return nil, errors.New("--client-id needs --client-public-key")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("read public key %s: not PEM", path)
	}
	switch block.Type {
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read public key %s: %w", path, err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("read public key %s: not an RSA key", path)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("read public key %s: PEM type %q, want PUBLIC KEY or RSA PUBLIC KEY", path, block.Type)
}

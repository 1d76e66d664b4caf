// Command oktasim serves a simulated Okta org (internal/oktasim) for demos and local runs of the
// operator. It prints the org URL on stdout and serves until SIGINT or SIGTERM.
//
//	oktasim --listen 127.0.0.1:8443 --token TOKEN --tls --ca-file /tmp/oktasim-ca.pem
package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
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
	)
	flag.Parse()
	if *token == "" {
		*token = os.Getenv("OKTASIM_TOKEN")
	}
	if *token == "" && *clientID == "" {
		return errors.New("set --token (or $OKTASIM_TOKEN) or --client-id")
	}

	opts := oktasim.Options{Token: *token, HookLimit: *hookLimit, RateLimitPerMinute: *rateLimit, Seed: *seed}
	if *verbose {
		opts.Logf = log.Printf
	}
	sim := oktasim.New(opts)
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

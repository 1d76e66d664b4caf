package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tokenhook/tokenhook/hookserver"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

func TestParseConfig(t *testing.T) {
	required := []string{"--patients", "/p.csv", "--auth-secret-file", "/s"}
	cases := map[string]struct {
		args    []string
		env     map[string]string
		check   func(t *testing.T, c *config)
		wantErr string
	}{
		"defaults": {
			args: required,
			check: func(t *testing.T, c *config) {
				o := c.server
				got := []any{c.listen, o.Path, o.AuthHeader, o.Claim, o.Tokens, o.DenyNonPatients, c.metricsListen, c.logLevel, o.AuthSecretFiles}
				want := []any{":8080", "/tokenHook", "Authorization", "patientID", []protocol.Token{protocol.IDToken}, false, ":9090", slog.LevelInfo, []string{"/s"}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("defaults (-want +got):\n%s", diff)
				}
			},
		},
		"all flags": {
			args: []string{"--listen", ":8443", "--path", "/hook", "--patients", "/p.json", "--auth-header", "X-Secret",
				"--auth-secret-file", "/old", "--auth-secret-file", "/new", "--claim", "extPatientId", "--tokens", "id,access",
				"--deny-non-patients", "--tls-cert", "/tls.crt", "--tls-key", "/tls.key", "--metrics-listen", ":9443",
				"--log-level", "warn", "--shutdown-delay", "0s"},
			check: func(t *testing.T, c *config) {
				o := c.server
				got := []any{c.listen, o.Path, o.PatientsFile, o.AuthHeader, o.AuthSecretFiles, o.Claim, o.Tokens,
					o.DenyNonPatients, o.TLSCertFile, o.TLSKeyFile, c.metricsListen, c.logLevel, o.ShutdownDelay}
				want := []any{":8443", "/hook", "/p.json", "X-Secret", []string{"/old", "/new"}, "extPatientId",
					[]protocol.Token{protocol.IDToken, protocol.AccessToken}, true, "/tls.crt", "/tls.key", ":9443", slog.LevelWarn, time.Duration(0)}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("flags (-want +got):\n%s", diff)
				}
			},
		},
		"environment": {
			env: map[string]string{
				"HOOKSERVER_PATIENTS": "/env.csv", "HOOKSERVER_AUTH_SECRET_FILE": "/a, /b",
				"HOOKSERVER_TOKENS": "access", "HOOKSERVER_DENY_NON_PATIENTS": "true", "HOOKSERVER_METRICS_LISTEN": "127.0.0.1:9999",
			},
			check: func(t *testing.T, c *config) {
				o := c.server
				got := []any{o.PatientsFile, o.AuthSecretFiles, o.Tokens, o.DenyNonPatients, c.metricsListen}
				want := []any{"/env.csv", []string{"/a", "/b"}, []protocol.Token{protocol.AccessToken}, true, "127.0.0.1:9999"}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("from the environment (-want +got):\n%s", diff)
				}
			},
		},
		"flag wins over environment": {
			args: append([]string{"--claim", "fromFlag"}, required...),
			env:  map[string]string{"HOOKSERVER_CLAIM": "fromEnv", "HOOKSERVER_AUTH_SECRET_FILE": "/env-secret"},
			check: func(t *testing.T, c *config) {
				if c.server.Claim != "fromFlag" {
					t.Errorf("claim = %q; want the flag's", c.server.Claim)
				}
				if diff := cmp.Diff([]string{"/s"}, c.server.AuthSecretFiles); diff != "" {
					t.Errorf("secret files: the flag's replace the environment's (-want +got):\n%s", diff)
				}
			},
		},
		"header mode by default": {
			args: required,
			check: func(t *testing.T, c *config) {
				o := c.server
				got := []any{o.AuthMode, o.OAuth}
				want := []any{hookserver.AuthModeHeader, hookserver.OAuthOptions{ClockSkew: 30 * time.Second, MaxTokenBytes: 8192}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			},
		},
		"oauth flags": {
			args: []string{"--patients", "/p.csv", "--auth-mode", "oauth", "--oauth-issuer", "https://example.okta.com/oauth2/default",
				"--oauth-audience", "api://default", "--oauth-client-id", "0oa1", "--oauth-scope", "tokenhook",
				"--oauth-jwks-url", "https://example.okta.com/oauth2/default/v1/keys", "--oauth-jwks-ca-file", "/ca.crt",
				"--oauth-clock-skew", "10s", "--oauth-max-token-bytes", "4096"},
			check: func(t *testing.T, c *config) {
				o := c.server
				got := []any{o.AuthMode, o.OAuth, o.AuthSecretFiles}
				want := []any{hookserver.AuthModeOAuth, hookserver.OAuthOptions{
					Issuer: "https://example.okta.com/oauth2/default", Audience: "api://default", ClientID: "0oa1", Scope: "tokenhook",
					JWKSURL: "https://example.okta.com/oauth2/default/v1/keys", JWKSCAFile: "/ca.crt",
					ClockSkew: 10 * time.Second, MaxTokenBytes: 4096,
				}, []string(nil)}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			},
		},
		"both from the environment": {
			args: required,
			env: map[string]string{"HOOKSERVER_AUTH_MODE": "both", "HOOKSERVER_OAUTH_ISSUER": "https://o.example/oauth2/x",
				"HOOKSERVER_OAUTH_AUDIENCE": "api://x", "HOOKSERVER_OAUTH_CLIENT_ID": "0oa2", "HOOKSERVER_OAUTH_SCOPE": "s"},
			check: func(t *testing.T, c *config) {
				o := c.server
				got := []any{o.AuthMode, o.OAuth.Issuer, o.OAuth.Audience, o.OAuth.ClientID, o.OAuth.Scope, o.AuthSecretFiles}
				want := []any{hookserver.AuthModeBoth, "https://o.example/oauth2/x", "api://x", "0oa2", "s", []string{"/s"}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			},
		},
		"bad auth mode": {args: append([]string{"--auth-mode", "jwt"}, required...), wantErr: `unknown auth mode "jwt"`},
		"oauth without its flags": {
			args:    []string{"--patients", "/p", "--auth-mode", "oauth", "--oauth-issuer", "https://o.example"},
			wantErr: "--auth-mode=oauth needs --oauth-audience, --oauth-client-id, --oauth-scope",
		},
		"both without a secret": {
			args: []string{"--patients", "/p", "--auth-mode", "both", "--oauth-issuer", "https://o.example",
				"--oauth-audience", "a", "--oauth-client-id", "c", "--oauth-scope", "s"},
			wantErr: "--auth-secret-file is required with --auth-mode=both",
		},
		"zero clock skew": {
			args: []string{"--patients", "/p", "--auth-mode", "oauth", "--oauth-issuer", "https://o.example",
				"--oauth-audience", "a", "--oauth-client-id", "c", "--oauth-scope", "s", "--oauth-clock-skew", "0s"},
			wantErr: "--oauth-clock-skew must be positive",
		},
		"reserved claim": {
			args:    append([]string{"--claim", "sub"}, required...),
			wantErr: `claim "sub" is reserved by Okta in the ID token`,
		},
		"reserved claim in the access token": {
			args:    append([]string{"--claim", "cid", "--tokens", "id,access"}, required...),
			wantErr: `claim "cid" is reserved by Okta in the access token`,
		},
		"reserved claim from the environment": {
			args:    required,
			env:     map[string]string{"HOOKSERVER_CLAIM": "iss"},
			wantErr: `claim "iss" is reserved by Okta`,
		},
		"no patients":       {args: []string{"--auth-secret-file", "/s"}, wantErr: "--patients is required"},
		"no secret":         {args: []string{"--patients", "/p"}, wantErr: "--auth-secret-file is required"},
		"bad tokens":        {args: append([]string{"--tokens", "refresh"}, required...), wantErr: `unknown token "refresh"`},
		"bad tokens in env": {args: required, env: map[string]string{"HOOKSERVER_TOKENS": "x"}, wantErr: "HOOKSERVER_TOKENS"},
		"bad log level":     {args: append([]string{"--log-level", "loud"}, required...), wantErr: "log-level"},
		"unknown flag":      {args: append([]string{"--bogus"}, required...), wantErr: "bogus"},
		"stray argument":    {args: append(required, "extra"), wantErr: `unexpected argument "extra"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			getenv := func(k string) string { return c.env[k] }
			cfg, err := parseConfig(c.args, getenv, io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error = %v; want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, cfg)
		})
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("error = %v; want flag.ErrHelp", err)
	}
	for _, f := range []string{"-listen", "-path", "-patients", "-auth-header", "-auth-secret-file", "-claim", "-tokens",
		"-deny-non-patients", "-tls-cert", "-tls-key", "-metrics-listen", "-log-level", "-auth-mode", "-oauth-issuer",
		"-oauth-audience", "-oauth-client-id", "-oauth-scope", "-oauth-jwks-url", "-oauth-jwks-ca-file", "-oauth-clock-skew",
		"-oauth-max-token-bytes"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("usage lacks %s", f)
		}
	}
}

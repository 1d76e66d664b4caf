// Command hookserver is the service Okta calls as a token inline hook: it adds
// the patient ID of each patient who logs in as a claim of their tokens.
//
// Every flag can also be set by an environment variable HOOKSERVER_<FLAG>, the
// flag name in upper snake case (HOOKSERVER_AUTH_SECRET_FILE, comma-separated
// for several files). A flag on the command line wins over its variable.
//
// --auth-mode says what Okta's inline hook channel sends: header (an HTTP
// channel: a shared secret in --auth-header), oauth (an OAUTH channel:
// "Authorization: Bearer <JWT>", checked against --oauth-issuer and the
// other --oauth-* flags), or both while the channel switches. The mode is a
// flag, not a reloaded file: changing it rolls the pods, and the rollout, which
// the operator waits for before switching Okta's channel, stalls on a pod that
// cannot start or fetch the signing keys, while the old pods go on serving.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tokenhook/tokenhook/hookserver"
	"github.com/tokenhook/tokenhook/hookserver/logbuf"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

const envPrefix = "HOOKSERVER_"

// config is the command line, parsed.
type config struct {
	listen          string
	metricsListen   string
	logLevel        slog.Level
	shutdownDelay   time.Duration
	shutdownTimeout time.Duration
	server          hookserver.Options
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// tokensFlag parses --tokens.
type tokensFlag []protocol.Token

func (t *tokensFlag) String() string {
	parts := make([]string, len(*t))
	for i, tok := range *t {
		parts[i] = string(tok)
	}
	return strings.Join(parts, ",")
}

func (t *tokensFlag) Set(v string) error {
	ts, err := protocol.ParseTokens(v)
	if err != nil {
		return err
	}
	*t = ts
	return nil
}

// parseConfig parses args (without the program name), falling back on the
// environment for flags not given.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	o := &c.server
	var secretFiles stringList
	tokens := tokensFlag{protocol.IDToken}
	authMode := authModeFlag(hookserver.AuthModeHeader)
	fs := flag.NewFlagSet("hookserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", ":8080", "`address` to serve the hook and the /healthz and /readyz probes on")
	fs.StringVar(&o.Path, "path", hookserver.DefaultPath, "URL `path` Okta POSTs token hook events to")
	fs.StringVar(&o.PatientsFile, "patients", "", "patient list `file` (CSV with header login,patientID, or a JSON array), reloaded when it changes (required)")
	fs.Var(&authMode, "auth-mode", "`mode` of authentication: header (the shared secret), oauth (an OAuth 2.0 bearer token), or both (either, while Okta's channel switches)")
	fs.StringVar(&o.AuthHeader, "auth-header", hookserver.DefaultAuthHeader, "`name` of the header carrying the shared secret")
	fs.Var(&secretFiles, "auth-secret-file", "`file` holding accepted secrets, one per line (the full header value, e.g. \"Basic ...\"); repeatable, reloaded when it changes (required unless --auth-mode=oauth, which ignores it)")
	fs.StringVar(&o.OAuth.Issuer, "oauth-issuer", "", "issuer `URL` of the Okta authorization server minting Okta's tokens, e.g. https://example.okta.com/oauth2/default; iss must equal it (oauth and both modes)")
	fs.StringVar(&o.OAuth.Audience, "oauth-audience", "", "`audience` the token's aud must hold, e.g. api://default (oauth and both modes)")
	fs.StringVar(&o.OAuth.ClientID, "oauth-client-id", "", "client `ID` of Okta's OAuth channel, which the token's cid must equal (oauth and both modes)")
	fs.StringVar(&o.OAuth.Scope, "oauth-scope", "", "`scope` the token's scp must hold: the channel's scope (oauth and both modes)")
	fs.StringVar(&o.OAuth.JWKSURL, "oauth-jwks-url", "", "HTTPS `URL` of the signing keys (default: the issuer + /v1/keys)")
	fs.StringVar(&o.OAuth.JWKSCAFile, "oauth-jwks-ca-file", "", "PEM `file` of CAs trusted for fetching the signing keys, besides the system's")
	fs.DurationVar(&o.OAuth.ClockSkew, "oauth-clock-skew", 30*time.Second, "tolerance on the token's exp, nbf and iat (at most 5m)")
	fs.IntVar(&o.OAuth.MaxTokenBytes, "oauth-max-token-bytes", 8<<10, "longest bearer token read, in `bytes`")
	fs.StringVar(&o.Claim, "claim", hookserver.DefaultClaim, "`name` of the claim carrying the patient ID")
	fs.Var(&tokens, "tokens", "comma-separated `tokens` to add the claim to: id, access, or id,access")
	fs.BoolVar(&o.DenyNonPatients, "deny-non-patients", false, "make Okta refuse tokens to users who are not patients (users only; client credentials are never denied)")
	fs.StringVar(&o.TLSCertFile, "tls-cert", "", "TLS certificate `file` (PEM); serves HTTPS with --tls-key, reloaded when it changes")
	fs.StringVar(&o.TLSKeyFile, "tls-key", "", "TLS private key `file` (PEM)")
	fs.StringVar(&c.metricsListen, "metrics-listen", ":9090", "`address` to serve Prometheus metrics on (/metrics); empty disables")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info (one line per call), warn or error")
	fs.DurationVar(&c.shutdownDelay, "shutdown-delay", 5*time.Second, "on SIGTERM, keep serving this long with readiness failing, so Kubernetes stops routing calls first")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM, wait at most this long for calls in flight")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hookserver --patients FILE --auth-secret-file FILE [flags]\n"+
			"       hookserver --patients FILE --auth-mode oauth --oauth-issuer URL --oauth-audience AUD\n"+
			"                  --oauth-client-id ID --oauth-scope SCOPE [flags]\n\n"+
			"Every flag can also be set by an environment variable %s<FLAG> in upper snake case\n"+
			"(HOOKSERVER_AUTH_SECRET_FILE=/a,/b for several files); a flag on the command line wins.\n\n", envPrefix)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, printedError{err} // flag has printed it, with the usage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnv(fs, getenv); err != nil {
		return nil, err
	}
	o.AuthSecretFiles = secretFiles
	o.AuthMode = hookserver.AuthMode(authMode)
	o.Tokens = tokens
	o.ShutdownDelay, o.ShutdownTimeout = c.shutdownDelay, c.shutdownTimeout

	switch {
	case o.PatientsFile == "":
		return nil, errors.New("--patients is required")
	case o.AuthMode != hookserver.AuthModeOAuth && len(o.AuthSecretFiles) == 0:
		return nil, fmt.Errorf("--auth-secret-file is required with --auth-mode=%s: Okta must authenticate its calls", o.AuthMode)
	}
	if o.AuthMode != hookserver.AuthModeHeader {
		var missing []string
		for _, f := range []struct{ flag, v string }{
			{"--oauth-issuer", o.OAuth.Issuer}, {"--oauth-audience", o.OAuth.Audience},
			{"--oauth-client-id", o.OAuth.ClientID}, {"--oauth-scope", o.OAuth.Scope},
		} {
			if f.v == "" {
				missing = append(missing, f.flag)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("--auth-mode=%s needs %s", o.AuthMode, strings.Join(missing, ", "))
		}
		if o.OAuth.ClockSkew <= 0 {
			return nil, errors.New("--oauth-clock-skew must be positive")
		}
		if o.OAuth.MaxTokenBytes <= 0 {
			return nil, errors.New("--oauth-max-token-bytes must be positive")
		}
	}
	if err := protocol.ValidateClaimName(o.Claim, o.Tokens); err != nil {
		return nil, fmt.Errorf("--claim: %w", err)
	}
	return c, nil
}

// authModeFlag parses --auth-mode.
type authModeFlag hookserver.AuthMode

func (m *authModeFlag) String() string { return string(*m) }

func (m *authModeFlag) Set(v string) error {
	mode, err := hookserver.ParseAuthMode(v)
	if err != nil {
		return err
	}
	*m = authModeFlag(mode)
	return nil
}

// printedError is an error already shown to the user.
type printedError struct{ error }

func (e printedError) Unwrap() error { return e.error }

// applyEnv sets each flag not given on the command line from HOOKSERVER_<FLAG>.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := getenv(name)
		if v == "" {
			return
		}
		values := []string{v}
		if _, repeatable := f.Value.(*stringList); repeatable {
			values = strings.Split(v, ",")
		}
		for _, val := range values {
			if err := f.Value.Set(strings.TrimSpace(val)); err != nil {
				errs = append(errs, fmt.Errorf("invalid value %q for %s: %w", v, name, err))
				return
			}
		}
	})
	return errors.Join(errs...)
}

func main() {
	c, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		if !errors.As(err, new(printedError)) {
			fmt.Fprintln(os.Stderr, "hookserver:", err)
		}
		os.Exit(2)
	}
	// One log line per call: batch the writes (lines are out within 100ms).
	out := logbuf.New(os.Stderr, 100*time.Millisecond)
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: c.logLevel}))
	err = run(c, log)
	if err != nil {
		log.Error("Hook server failed", "error", err)
	}
	_ = out.Close()
	if err != nil {
		os.Exit(1)
	}
}

func run(c *config, log *slog.Logger) error {
	c.server.Logger = log
	srv, err := hookserver.New(c.server)
	if err != nil {
		return err
	}
	hookLn, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen for hooks: %w", err)
	}
	var metricsLn net.Listener
	if c.metricsListen != "" {
		if metricsLn, err = net.Listen("tcp", c.metricsListen); err != nil {
			_ = hookLn.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		// After the first signal, a second one kills at once.
		<-ctx.Done()
		stop()
	}()
	return srv.Run(ctx, hookLn, metricsLn)
}

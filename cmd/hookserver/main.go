// Command hookserver is the service Okta calls as a token inline hook: it adds
// the patient ID of each patient who logs in as a claim of their tokens.
//
// Every flag can also be set by an environment variable HOOKSERVER_<FLAG>, the
// flag name in upper snake case (HOOKSERVER_AUTH_SECRET_FILE, comma-separated
// for several files). A flag on the command line wins over its variable.
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
	fs := flag.NewFlagSet("hookserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", ":8080", "`address` to serve the hook and the /healthz and /readyz probes on")
	fs.StringVar(&o.Path, "path", hookserver.DefaultPath, "URL `path` Okta POSTs token hook events to")
	fs.StringVar(&o.PatientsFile, "patients", "", "patient list `file` (CSV with header login,patientID, or a JSON array), reloaded when it changes (required)")
	fs.StringVar(&o.AuthHeader, "auth-header", hookserver.DefaultAuthHeader, "`name` of the header carrying the shared secret")
	fs.Var(&secretFiles, "auth-secret-file", "`file` holding accepted secrets, one per line (the full header value, e.g. \"Basic ...\"); repeatable, reloaded when it changes (required)")
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
		fmt.Fprintf(fs.Output(), "Usage: hookserver --patients FILE --auth-secret-file FILE [flags]\n\n"+
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
	o.Tokens = tokens
	o.ShutdownDelay, o.ShutdownTimeout = c.shutdownDelay, c.shutdownTimeout

	switch {
	case o.PatientsFile == "":
		return nil, errors.New("--patients is required")
	case len(o.AuthSecretFiles) == 0:
		return nil, errors.New("--auth-secret-file is required: Okta must authenticate its calls")
	}
	if err := protocol.ValidateClaimName(o.Claim, o.Tokens); err != nil {
		return nil, fmt.Errorf("--claim: %w", err)
	}
	return c, nil
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

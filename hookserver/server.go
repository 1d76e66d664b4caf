package hookserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenhook/tokenhook/hookserver/internal/auth"
	"github.com/tokenhook/tokenhook/hookserver/internal/bearer"
	"github.com/tokenhook/tokenhook/hookserver/internal/filewatch"
	"github.com/tokenhook/tokenhook/hookserver/internal/tlscert"
	"github.com/tokenhook/tokenhook/hookserver/patients"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
)

// Probe paths, served on the hook listener.
const (
	HealthzPath = "/healthz"
	ReadyzPath  = "/readyz"
	MetricsPath = "/metrics"
)

// Timeouts of the hook listener. Okta waits 3 s for an answer, so a call that
// takes longer is lost anyway; the limits bound what a slow client can hold.
const (
	readHeaderTimeout = 3 * time.Second
	readTimeout       = 5 * time.Second
	writeTimeout      = 5 * time.Second
	idleTimeout       = 90 * time.Second
	maxHeaderBytes    = 64 << 10
)

// Options configure a Server.
type Options struct {
	// Path is where Okta POSTs events (default DefaultPath).
	Path string
	// PatientsFile is the patient list (CSV or JSON, see patients.Parse).
	PatientsFile string
	// AuthMode says which credentials calls may carry (default AuthModeHeader).
	AuthMode AuthMode
	// AuthHeader names the header with the shared secret (default DefaultAuthHeader).
	AuthHeader string
	// AuthSecretFiles hold the accepted secrets, one per non-empty line;
	// required unless AuthMode is AuthModeOAuth, which ignores them.
	AuthSecretFiles []string
	// OAuth configures the bearer token check of AuthModeOAuth and
	// AuthModeBoth; AuthModeHeader ignores it.
	OAuth OAuthOptions
	// Claim, Tokens and DenyNonPatients: see HandlerConfig.
	Claim           string
	Tokens          []protocol.Token
	DenyNonPatients bool
	// TLSCertFile and TLSKeyFile, both or neither, serve HTTPS.
	TLSCertFile, TLSKeyFile string
	// ShutdownDelay is how long to keep serving after the context ends, while
	// readiness fails, so endpoints drop the pod before it stops listening.
	ShutdownDelay time.Duration
	// ShutdownTimeout bounds the wait for calls in flight (default 10s).
	ShutdownTimeout time.Duration
	// Debounce and Resync tune file watching (defaults 50ms and 1 minute).
	Debounce, Resync time.Duration
	// Logger receives JSON-ready structured logs (default: discarded).
	Logger *slog.Logger
}

// OAuthOptions configure the check of OAuth 2.0 access tokens. Issuer,
// Audience, ClientID and Scope are required.
type OAuthOptions struct {
	// Issuer is the Okta authorization server's issuer, which the token's iss
	// must equal exactly, e.g. https://example.okta.com/oauth2/default.
	Issuer string
	// Audience must be one of the token's aud, e.g. api://default.
	Audience string
	// ClientID must be the token's cid: the client ID of Okta's channel.
	ClientID string
	// Scope must be one of the token's scp: the scope of Okta's channel.
	Scope string
	// JWKSURL is where the signing keys are (default Issuer + "/v1/keys").
	JWKSURL string
	// JWKSCAFile (PEM, optional) holds CAs trusted for fetching the keys, on
	// top of the system's.
	JWKSCAFile string
	// ClockSkew is the tolerance on exp, nbf and iat (default 30s).
	ClockSkew time.Duration
	// MaxTokenBytes refuses longer tokens unread (default 8 KiB).
	MaxTokenBytes int
	// MinKeyRefreshInterval is the least time between two fetches of the
	// keys caused by tokens with an unknown kid (default 30s).
	MinKeyRefreshInterval time.Duration
}

// Server is the hook server: the hook endpoint and probes on one listener,
// metrics on another, and the watchers that reload files.
type Server struct {
	opts     Options
	log      *slog.Logger
	metrics  *Metrics
	patients *patients.Store
	secrets  *auth.Secrets    // nil in AuthModeOAuth
	bearer   *bearer.Verifier // nil in AuthModeHeader
	cert     *tlscert.Reloader
	hook     *Handler
	stopping atomic.Bool
}

// New checks the options and loads the secrets and the TLS key pair, which must
// be valid at start. The patient list loads in Run; until then the server is
// not ready.
func New(opts Options) (*Server, error) {
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AuthMode == "" {
		opts.AuthMode = AuthModeHeader
	}
	if _, err := ParseAuthMode(string(opts.AuthMode)); err != nil {
		return nil, err
	}
	switch {
	case opts.Path[0] != '/':
		return nil, fmt.Errorf("path %q must start with /", opts.Path)
	case opts.Path == HealthzPath || opts.Path == ReadyzPath:
		return nil, fmt.Errorf("path %q is taken by a probe", opts.Path)
	case opts.PatientsFile == "":
		return nil, errors.New("no patients file given")
	case (opts.TLSCertFile == "") != (opts.TLSKeyFile == ""):
		return nil, errors.New("TLS needs both a certificate file and a key file")
	}
	s := &Server{opts: opts, log: opts.Logger, metrics: NewMetrics()}

	var err error
	// A nil *auth.Secrets must not become a non-nil Authenticator.
	var secrets Authenticator
	if opts.AuthMode.header() {
		s.secrets, err = auth.Load(opts.AuthSecretFiles, s.reported(SourceAuthSecrets, "Auth secrets"))
		if err != nil {
			return nil, fmt.Errorf("load auth secrets: %w", err)
		}
		s.metrics.observeLoad(SourceAuthSecrets, nil)
		secrets = s.secrets
	}
	var tokens BearerVerifier
	if opts.AuthMode.oauth() {
		if s.bearer, err = newVerifier(opts.OAuth, s.keysFetched); err != nil {
			return nil, err
		}
		tokens = s.bearer
	}
	if opts.TLSCertFile != "" {
		s.cert, err = tlscert.Load(opts.TLSCertFile, opts.TLSKeyFile, s.reported(SourceTLS, "TLS certificate"))
		if err != nil {
			return nil, err
		}
		s.metrics.observeLoad(SourceTLS, nil)
	}
	s.patients = patients.NewStore(opts.PatientsFile, patients.StoreOptions{
		Logger: s.log,
		OnLoad: func(r patients.LoadResult) {
			s.metrics.observeLoad(SourcePatients, r.Err)
			s.metrics.setPatients(r.Patients)
		},
		Debounce: opts.Debounce,
		Resync:   opts.Resync,
	})
	s.hook, err = NewHandler(HandlerConfig{
		Claim:           opts.Claim,
		Tokens:          opts.Tokens,
		DenyNonPatients: opts.DenyNonPatients,
		AuthHeader:      opts.AuthHeader,
		AuthMode:        opts.AuthMode,
		Bearer:          tokens,
	}, s.patients, secrets, s.metrics, s.log)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NewBearerVerifier returns the bearer token check of o for a Handler built
// without a Server (tests, stand-ins). It fetches the signing keys when the
// first token comes, and again on an unknown kid, at most every
// MinKeyRefreshInterval; a Server also fetches them at start and hourly.
func NewBearerVerifier(o OAuthOptions) (BearerVerifier, error) {
	return newVerifier(o, nil)
}

// newVerifier makes the bearer token check; a Server fetches keys in Run.
func newVerifier(o OAuthOptions, onFetch func(bearer.FetchResult)) (*bearer.Verifier, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if o.JWKSCAFile != "" {
		pem, err := os.ReadFile(o.JWKSCAFile)
		if err != nil {
			return nil, fmt.Errorf("JWKS CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("JWKS CA file %s holds no PEM certificate", o.JWKSCAFile)
		}
		transport.TLSClientConfig.RootCAs = pool
	}
	v, err := bearer.New(bearer.Config{
		Issuer:             o.Issuer,
		Audience:           o.Audience,
		ClientID:           o.ClientID,
		Scope:              o.Scope,
		JWKSURL:            o.JWKSURL,
		Client:             &http.Client{Transport: transport},
		ClockSkew:          o.ClockSkew,
		MaxTokenBytes:      o.MaxTokenBytes,
		MinRefreshInterval: o.MinKeyRefreshInterval,
		OnFetch:            onFetch,
	})
	if err != nil {
		return nil, fmt.Errorf("OAuth: %w", err)
	}
	return v, nil
}

// keysFetched logs and counts fetches of the signing keys; kids are public.
func (s *Server) keysFetched(r bearer.FetchResult) {
	s.metrics.observeKeyFetch(len(r.KeyIDs), r.Err)
	switch {
	case r.Err != nil:
		s.log.Error("OAuth signing keys fetch failed; keeping the previous ones", "error", r.Err,
			"keys", len(r.KeyIDs))
	case r.Changed:
		s.log.Info("OAuth signing keys loaded", "kids", strings.Join(r.KeyIDs, ","), "durationMs", r.Took.Milliseconds())
	default:
		s.log.Debug("OAuth signing keys unchanged", "durationMs", r.Took.Milliseconds())
	}
}

// reported logs and counts reloads of secrets and certificates.
func (s *Server) reported(source, what string) func(err error, took time.Duration) {
	return func(err error, took time.Duration) {
		s.metrics.observeLoad(source, err)
		if err != nil {
			s.log.Error(what+" rejected; keeping the previous ones", "error", err)
			return
		}
		s.log.Info(what+" reloaded", "durationMs", took.Milliseconds())
	}
}

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Ready reports whether the server can answer hook calls: the patient list
// is loaded and, when tokens are accepted, the signing keys were fetched once.
func (s *Server) Ready() bool { return s.patients.Ready() && s.keysReady() && !s.stopping.Load() }

// keysReady is false until the first fetch of the signing keys succeeds, so
// that a rollout to a mode with tokens stalls, and Okta's channel is not
// switched, while the keys cannot be fetched. Later failures keep the keys.
func (s *Server) keysReady() bool { return s.bearer == nil || s.bearer.Loaded() }

// Handler serves the hook path and the probes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+HealthzPath, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET "+ReadyzPath, func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case s.stopping.Load():
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		case !s.patients.Ready():
			http.Error(w, "patient list not loaded", http.StatusServiceUnavailable)
		case !s.keysReady():
			http.Error(w, "OAuth signing keys not fetched", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ok\n"))
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The hook path first: it is nearly all the traffic.
		if r.URL.Path == s.opts.Path {
			s.hook.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Run serves hooks on hookLn and metrics on metricsLn (which may be nil) until
// ctx is done, then shuts down gracefully: readiness fails at once, and calls
// in flight finish. It returns early with an error if serving or watching fails.
func (s *Server) Run(ctx context.Context, hookLn, metricsLn net.Listener) error {
	watchCtx, stopWatching := context.WithCancel(context.Background())
	defer stopWatching()
	errc := make(chan error, 6)
	var wg sync.WaitGroup
	goRun := func(name string, run func() error) {
		wg.Go(func() {
			if err := run(); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}

	watch := filewatch.Options{
		Debounce: s.opts.Debounce,
		Resync:   s.opts.Resync,
		OnError:  func(err error) { s.log.Warn("File watch error", "error", err) },
	}
	goRun("watch patients", func() error { return s.patients.Run(watchCtx) })
	if s.secrets != nil {
		goRun("watch auth secrets", func() error { return s.secrets.Run(watchCtx, watch) })
	}
	if s.bearer != nil {
		goRun("fetch OAuth signing keys", func() error { return s.bearer.Run(watchCtx) })
	}
	if s.cert != nil {
		goRun("watch TLS certificate", func() error { return s.cert.Run(watchCtx, watch) })
	}

	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	hookSrv := &http.Server{
		Handler:           s.closingWhenStopping(s.Handler()),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          errLog,
	}
	if s.cert != nil {
		hookSrv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.cert.GetCertificate}
		goRun("serve hooks", func() error { return ignoreClosed(hookSrv.ServeTLS(hookLn, "", "")) })
	} else {
		goRun("serve hooks", func() error { return ignoreClosed(hookSrv.Serve(hookLn)) })
	}
	var metricsSrv *http.Server
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET "+MetricsPath, s.metrics.Handler())
		metricsSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       idleTimeout,
			ErrorLog:          errLog,
		}
		goRun("serve metrics", func() error { return ignoreClosed(metricsSrv.Serve(metricsLn)) })
	}
	s.log.Info("Hook server started", "address", hookLn.Addr().String(), "path", s.opts.Path,
		"tls", s.cert != nil, "tokens", tokenList(s.opts.Tokens), "claim", s.opts.Claim,
		"denyNonPatients", s.opts.DenyNonPatients, "authMode", string(s.opts.AuthMode))
	if s.bearer != nil {
		c := s.bearer.Config()
		s.log.Info("Accepting OAuth bearer tokens", "issuer", c.Issuer, "audience", c.Audience,
			"clientId", c.ClientID, "scope", c.Scope, "jwksUrl", c.JWKSURL, "clockSkew", c.ClockSkew.String())
	}

	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("Shutting down", "delay", s.opts.ShutdownDelay)
	case runErr = <-errc:
		s.log.Error("Hook server failed; shutting down", "error", runErr)
	}
	s.stopping.Store(true)
	if runErr == nil && s.opts.ShutdownDelay > 0 {
		time.Sleep(s.opts.ShutdownDelay)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	var errs []error
	if err := hookSrv.Shutdown(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("shut down hook server: %w", err))
	}
	if metricsSrv != nil {
		if err := metricsSrv.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("shut down metrics server: %w", err))
		}
	}
	stopWatching()
	wg.Wait()
	close(errc)
	for err := range errc {
		if runErr == nil {
			runErr = err
		}
	}
	s.log.Info("Hook server stopped")
	return errors.Join(append([]error{runErr}, errs...)...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func tokenList(ts []protocol.Token) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = string(t)
	}
	return strings.Join(names, ",")
}

// closingWhenStopping answers with "Connection: close" once shutdown began.
// Okta keeps connections alive, and a kept-alive connection goes on reaching
// this pod whatever the Service's endpoints say; closed after its answer, it
// makes Okta's next call open a connection to a pod that stays. Idle
// connections are not cut at once: a call sent on one just then would fail.
func (s *Server) closingWhenStopping(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.stopping.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

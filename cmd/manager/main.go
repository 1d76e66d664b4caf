// Command manager runs the tokenhook operator: the TokenHook controller,
// with leader election, health probes and Prometheus metrics.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	tokenhookv1alpha1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/controllers"
	"github.com/tokenhook/tokenhook/internal/okta"
)

func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, tokenhookv1alpha1.AddToScheme(s)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr, oktaCAFile string
		pprofAddr                          string
		leaderElectionNamespace            string
		watchNamespaces                    string
		leaderElect                        bool
		kubeAPIQPS                         float64
		kubeAPIBurst                       int
		opts                               controllers.Options
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address of Go's /debug/pprof endpoints, for profiling; empty (the default) disables them.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader, so that only one of several replicas acts.")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "",
		"Comma-separated namespaces whose TokenHooks (and Secrets, ConfigMaps, Deployments) the manager watches; empty for all. With a list, namespaced Roles suffice.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader election Lease; default the pod's own (required when running outside a pod).")
	flag.StringVar(&opts.HookServerImage, "hookserver-image", os.Getenv("TOKENHOOK_IMAGE"),
		"Default hook server image (the operator's own); env TOKENHOOK_IMAGE.")
	flag.DurationVar(&opts.DriftInterval, "drift-interval", 5*time.Minute, "How often each TokenHook is checked against Okta (jittered by 10%).")
	flag.DurationVar(&opts.RotationGrace, "auth-rotation-grace", 2*time.Minute,
		"Wait at each step of an auth secret rotation: longer than kubelet takes to refresh mounted Secrets.")
	flag.IntVar(&opts.OktaCallsPerMinute, "okta-calls-per-minute", 300,
		"Most Okta API calls per minute per org, leaving the rest of the org's rate limit to other clients; 0 for no cap.")
	flag.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles, "TokenHooks reconciled at once.")
	flag.StringVar(&oktaCAFile, "okta-ca-file", "", "PEM CA bundle to trust for Okta, besides the system's (a TLS-intercepting proxy, or the simulator).")
	// client-go's default of 20 a second (burst 30) paces a few hundred
	// TokenHooks, each a handful of writes, slower than Okta's budget does.
	flag.Float64Var(&kubeAPIQPS, "kube-api-qps", 50, "Most Kubernetes API requests per second from the manager.")
	flag.IntVar(&kubeAPIBurst, "kube-api-burst", 100, "Kubernetes API requests the manager may send at once above --kube-api-qps.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if opts.HookServerImage == "" {
		return fmt.Errorf("--hookserver-image (or TOKENHOOK_IMAGE) is required: the image the hook server Deployments run")
	}
	if oktaCAFile != "" {
		client, pem, err := httpClientTrusting(oktaCAFile)
		if err != nil {
			return err
		}
		opts.OktaHTTPClient, opts.OktaCABundle = client, pem
	}
	opts.OktaMetrics = okta.NewMetrics(crmetrics.Registry)
	// The time Kubernetes API requests wait in client-go's client-side
	// limiter (--kube-api-qps) and take: what paces a large rollout.
	crmetrics.RegisterRESTClientMetrics(crmetrics.MetricRateLimiterLatency, crmetrics.MetricRequestLatency)

	scheme, err := newScheme()
	if err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("find the cluster: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(kubeAPIQPS), kubeAPIBurst
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		PprofBindAddress:        pprofAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "tokenhook-manager.tokenhook.io",
		LeaderElectionNamespace: leaderElectionNamespace,
		Cache:                   controllers.CacheOptions(splitList(watchNamespaces)),
	})
	if err != nil && leaderElect && leaderElectionNamespace == "" {
		return fmt.Errorf("create manager: %w (outside a pod, give --leader-election-namespace)", err)
	}
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := controllers.NewTokenHookReconciler(mgr, opts).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("set up the TokenHook controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// splitList parses a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// httpClientTrusting trusts caFile's CAs besides the system's; it returns
// the PEM too, which hook servers with OAuth hook auth trust for Okta's keys.
func httpClientTrusting(caFile string) (*http.Client, []byte, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--okta-ca-file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("--okta-ca-file %s: no PEM certificates", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, pem, nil
}

package hookserver

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Reload sources, the values of the source label.
const (
	SourcePatients    = "patients"
	SourceAuthSecrets = "auth_secrets"
	SourceTLS         = "tls_certificate"
)

// Metrics are the hook server's Prometheus metrics, in a registry of their own.
type Metrics struct {
	registry     *prometheus.Registry
	calls        [numOutcomes]prometheus.Counter
	latency      prometheus.Histogram
	patients     prometheus.Gauge
	reloads      *prometheus.CounterVec
	lastGoodLoad *prometheus.GaugeVec
	// authFailures and authenticated are read-only after NewMetrics.
	authFailures  map[string]prometheus.Counter
	authenticated map[string]prometheus.Counter
	keyFetches    *prometheus.CounterVec
	keys          prometheus.Gauge
	lastGoodFetch prometheus.Gauge
}

// NewMetrics registers the metrics, with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenhook_hook_calls_total",
		Help: "Token inline hook calls, by outcome (patient, not_patient, no_end_user, denied, unauthorized, ...).",
	}, []string{"outcome"})
	// Resolve every label once: the hot path then only increments.
	for o := range numOutcomes {
		m.calls[o] = calls.WithLabelValues(o.String())
	}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "tokenhook_hook_call_duration_seconds",
		Help: "Time to answer a token inline hook call, from request headers read to response written. Okta gives up after 3 s.",
		Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
			0.1, 0.25, 0.5, 1, 2, 3},
	})
	m.patients = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tokenhook_hook_patients",
		Help: "Patients in the list being served.",
	})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenhook_hook_reloads_total",
		Help: "Attempts to load changed files, by source (patients, auth_secrets, tls_certificate) and result (success, error). On error the last good version stays in force.",
	}, []string{"source", "result"})
	m.lastGoodLoad = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tokenhook_hook_last_good_load_timestamp_seconds",
		Help: "Unix time of the last successful load, by source.",
	}, []string{"source"})
	for _, src := range []string{SourcePatients, SourceAuthSecrets, SourceTLS} {
		m.reloads.WithLabelValues(src, "success")
		m.reloads.WithLabelValues(src, "error")
	}
	authFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenhook_hook_auth_failures_total",
		Help: "Unauthorized hook calls, by reason: missing (no credential), bad_secret (the auth header holds no accepted secret), or why a bearer token was refused (malformed_token, bad_signature, unknown_kid, expired, not_yet_valid, wrong_issuer, wrong_audience, wrong_client, missing_scope).",
	}, []string{"reason"})
	m.authFailures = map[string]prometheus.Counter{}
	for _, r := range authFailureReasons() {
		m.authFailures[r] = authFailures.WithLabelValues(r)
	}
	authenticated := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenhook_hook_authenticated_calls_total",
		Help: "Hook calls whose credentials were accepted, by method: header (the shared secret) or oauth (a bearer token). Shows when Okta's channel has switched.",
	}, []string{"method"})
	m.authenticated = map[string]prometheus.Counter{
		methodHeader: authenticated.WithLabelValues(methodHeader),
		methodOAuth:  authenticated.WithLabelValues(methodOAuth),
	}
	m.keyFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tokenhook_hook_oauth_key_fetches_total",
		Help: "Fetches of the authorization server's signing keys (JWKS), by result (success, error). On error the keys in force stay.",
	}, []string{"result"})
	m.keyFetches.WithLabelValues("success")
	m.keyFetches.WithLabelValues("error")
	m.keys = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tokenhook_hook_oauth_keys",
		Help: "Signing keys in force for bearer tokens; 0 in header auth mode or before the first successful fetch.",
	})
	m.lastGoodFetch = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tokenhook_hook_oauth_keys_last_success_timestamp_seconds",
		Help: "Unix time of the last successful fetch of the signing keys.",
	})
	m.registry.MustRegister(calls, m.latency, m.patients, m.reloads, m.lastGoodLoad,
		authFailures, authenticated, m.keyFetches, m.keys, m.lastGoodFetch,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registry is the metrics' registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

func (m *Metrics) observeCall(o outcome, took time.Duration) {
	m.calls[o].Inc()
	m.latency.Observe(took.Seconds())
}

// observeLoad records one load attempt of source.
func (m *Metrics) observeLoad(source string, err error) {
	if err != nil {
		m.reloads.WithLabelValues(source, "error").Inc()
		return
	}
	m.reloads.WithLabelValues(source, "success").Inc()
	m.lastGoodLoad.WithLabelValues(source).SetToCurrentTime()
}

func (m *Metrics) setPatients(n int) { m.patients.Set(float64(n)) }

func (m *Metrics) observeAuth(method string) { m.authenticated[method].Inc() }

func (m *Metrics) observeAuthFailure(reason string) {
	if c, ok := m.authFailures[reason]; ok {
		c.Inc()
	}
}

// observeKeyFetch records one fetch of the signing keys, keys being those in force after it.
func (m *Metrics) observeKeyFetch(keys int, err error) {
	if err != nil {
		m.keyFetches.WithLabelValues("error").Inc()
		return
	}
	m.keyFetches.WithLabelValues("success").Inc()
	m.keys.Set(float64(keys))
	m.lastGoodFetch.SetToCurrentTime()
}

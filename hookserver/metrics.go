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
	m.registry.MustRegister(calls, m.latency, m.patients, m.reloads, m.lastGoodLoad,
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

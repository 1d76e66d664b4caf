package monitoring

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// chartQueries are every PromQL query the chart ships: the alerts' (with
// every alert on) and the dashboard's.
func chartQueries(t *testing.T) []query {
	t.Helper()
	rule := only(t, render(t, "--values", monitoringValues), "PrometheusRule")
	var out []query
	for _, g := range ruleGroups(t, rule) {
		for _, r := range g.Rules {
			out = append(out, query{"alert " + r.Alert, r.Expr})
		}
	}
	return append(out, dashboardQueries(t, parseDashboard(t, dashboardFile(t)))...)
}

// TestQueriesReadExportedMetrics checks every metric, label and label value
// that the alerts and the dashboard read against what a running hook server
// and the manager export.
func TestQueriesReadExportedMetrics(t *testing.T) {
	t.Parallel()
	queries := chartQueries(t)
	metrics := exported{}
	metrics.add(scrapeHookServer(t))
	metrics.add(managerFamilies(t))
	for _, q := range queries {
		for _, p := range checkQuery(q.expr, metrics) {
			t.Errorf("%s: %s\n\t%s", q.where, p, q.expr)
		}
	}
	// Each metric the issue asks about is read somewhere.
	var all strings.Builder
	for _, q := range queries {
		all.WriteString(q.expr + "\n")
	}
	for _, name := range []string{
		"tokenhook_hook_calls_total", "tokenhook_hook_call_duration_seconds_bucket", "tokenhook_hook_patients",
		"tokenhook_hook_reloads_total", "tokenhook_hook_last_good_load_timestamp_seconds",
		"tokenhook_okta_calls_total", "tokenhook_okta_call_duration_seconds_bucket", "tokenhook_tokenhook_ready",
	} {
		if !strings.Contains(all.String(), name) {
			t.Errorf("no alert or panel reads %s", name)
		}
	}
}

// TestCheckerFindsMistakes shows that the check above can fail: each query
// has one mistake, against metrics shaped like the real ones.
func TestCheckerFindsMistakes(t *testing.T) {
	reg := prometheus.NewRegistry()
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calls_total", Help: "h"}, []string{"outcome"})
	calls.WithLabelValues("ok")
	calls.WithLabelValues("error")
	reg.MustRegister(calls, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "latency_seconds", Help: "h"}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	metrics := exported{}
	metrics.add(families)

	cases := map[string]struct {
		query string
		want  string // a part of the one problem; "" for none
	}{
		"fine": {
			query: `sum by (namespace, outcome) (rate(calls_total{outcome=~"ok|error", pod!=""}[5m])) / ignoring (outcome) group_left sum by (namespace) (rate(calls_total[5m]))`,
		},
		"fine histogram": {
			query: `histogram_quantile(0.99, sum by (namespace, le) (rate(latency_seconds_bucket[5m]))) > 1`,
		},
		"misspelt metric":              {`rate(call_total[5m])`, "call_total is not exported"},
		"histogram without suffix":     {`rate(latency_seconds[5m])`, "latency_seconds is not exported"},
		"counter read as histogram":    {`calls_total_bucket`, "calls_total_bucket is not exported"},
		"misspelt label":               {`calls_total{outcom="ok"}`, `has no label "outcom"`},
		"value never exported":         {`calls_total{outcome="okay"}`, `no series has outcome="okay"`},
		"one alternative misspelt":     {`calls_total{outcome=~"ok|eror"}`, `no series has outcome="eror"`},
		"regexp matching nothing":      {`calls_total{outcome=~"x.*"}`, "no series matches"},
		"grouping by a missing label":  {`sum by (pod_name) (calls_total)`, `groups by "pod_name"`},
		"label lost by an inner sum":   {`sum by (outcome) (sum by (job) (calls_total))`, `groups by "outcome"`},
		"quantile without le":          {`histogram_quantile(0.9, sum by (job) (rate(latency_seconds_bucket[5m])))`, "have no le"},
		"on a label one side lacks":    {`calls_total / on (outcome) latency_seconds_count`, `one side has no label "outcome"`},
		"ignoring a label nobody has":  {`calls_total / ignoring (reason) calls_total`, `neither side has label "reason"`},
		"group_left of a label absent": {`calls_total * on (job) group_left (outcome) latency_seconds_count`, `takes label "outcome"`},
		"one to one that never matches": {
			`sum by (outcome) (rate(calls_total[5m])) / sum(rate(calls_total[5m]))`, "no series match one to one",
		},
		"not PromQL": {`rate(calls_total[5m]`, "does not parse"},
		"no metric":  {`vector(1)`, "reads no metric"},
		"no name":    {`{outcome="ok"}`, "without a metric name"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := checkQuery(tc.query, metrics)
			if tc.want == "" {
				if len(got) > 0 {
					t.Errorf("problems %q, want none", got)
				}
				return
			}
			if len(got) != 1 || !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("problems %q, want one containing %q", got, tc.want)
			}
		})
	}
}

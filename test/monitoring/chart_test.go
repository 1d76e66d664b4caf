package monitoring

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

var promql = parser.NewParser(parser.Options{})

// ruleGroups parses the PrometheusRule's spec with Prometheus' own rule file
// parser: unknown fields, expressions that do not parse, bad label or
// annotation names and alert templates that do not parse all fail.
func ruleGroups(t *testing.T, rule *unstructured.Unstructured) []rulefmt.RuleGroup {
	t.Helper()
	spec, err := yaml.Marshal(rule.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(spec, false, model.LegacyValidation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("PrometheusRule %s: %v", rule.GetName(), err)
	}
	if groups == nil || len(errs) > 0 {
		t.FailNow()
	}
	return groups.Groups
}

// alerts are the alerting rules of the groups by name.
func alerts(t *testing.T, groups []rulefmt.RuleGroup) map[string]rulefmt.Rule {
	t.Helper()
	out := map[string]rulefmt.Rule{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: recording rule %s: the chart ships alerts only", g.Name, r.Record)
				continue
			}
			if _, dup := out[r.Alert]; dup {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			out[r.Alert] = r
		}
	}
	return out
}

// threshold is the number an alert's expression compares against: its
// outermost operation must be "... > number".
func threshold(t *testing.T, r rulefmt.Rule) float64 {
	t.Helper()
	expr, err := promql.ParseExpr(r.Expr)
	if err != nil {
		t.Fatalf("%s: %v", r.Alert, err)
	}
	bin, ok := expr.(*parser.BinaryExpr)
	if !ok || bin.Op != parser.GTR {
		t.Fatalf("%s: expression is not '... > threshold': %s", r.Alert, r.Expr)
	}
	n, ok := bin.RHS.(*parser.NumberLiteral)
	if !ok {
		t.Fatalf("%s: compares against %s, not a number", r.Alert, bin.RHS)
	}
	return n.Val
}

func TestPrometheusRule(t *testing.T) {
	t.Parallel()
	rule := only(t, render(t, "--values", monitoringValues), "PrometheusRule")
	if got := rule.GetNamespace(); got != "monitoring" {
		t.Errorf("namespace %q, want monitoring (prometheusRule.namespace)", got)
	}
	if got := rule.GetLabels()["release"]; got != "prometheus" {
		t.Errorf("label release=%q, want prometheus (prometheusRule.labels)", got)
	}
	if got := rule.GetAnnotations()["example.com/owner"]; got != "identity" {
		t.Errorf("annotation example.com/owner=%q, want identity (prometheusRule.annotations)", got)
	}
	got := alerts(t, ruleGroups(t, rule))

	// Each alert, its severity and its 'for' from ci/monitoring-values.yaml.
	type alert struct{ Severity, For string }
	want := map[string]alert{
		"TokenHookHookCallsSlow":                {"warning", "5m"},
		"TokenHookHookCallsNearOktaTimeout":     {"critical", "5m"},
		"TokenHookHookServerWithoutPatientList": {"critical", "2m"},
		"TokenHookHookCallsRefused":             {"warning", "15m"},
		"TokenHookReloadRejected":               {"warning", "0s"},
		"TokenHookPatientListOld":               {"warning", "0s"},
		"TokenHookNotReady":                     {"warning", "30m"},
		"TokenHookOktaCallsFailing":             {"warning", "0s"},
		"TokenHookOktaTransientFailures":        {"warning", "30m"},
	}
	have := map[string]alert{}
	for name, r := range got {
		have[name] = alert{r.Labels["severity"], r.For.String()}
		if r.Labels["team"] != "identity" {
			t.Errorf("%s: label team=%q, want identity (prometheusRule.alertLabels)", name, r.Labels["team"])
		}
		for _, key := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[key]) == "" {
				t.Errorf("%s: no %s annotation", name, key)
			}
		}
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}

	// The thresholds from ci/monitoring-values.yaml.
	thresholds := map[string]float64{
		"TokenHookHookCallsSlow":            0.75,
		"TokenHookHookCallsNearOktaTimeout": 1.5,
		"TokenHookHookCallsRefused":         0.1,
		"TokenHookPatientListOld":           86400,
		"TokenHookOktaTransientFailures":    0.5,
	}
	for name, want := range thresholds {
		if r, ok := got[name]; ok {
			if v := threshold(t, r); v != want {
				t.Errorf("%s: threshold %v, want %v", name, v, want)
			}
		}
	}
}

// TestPrometheusRuleDefaults checks the default latency thresholds alert well
// before Okta gives up at 3 s, and that the list age alert is off.
func TestPrometheusRuleDefaults(t *testing.T) {
	t.Parallel()
	rule := only(t, render(t, "--set", "prometheusRule.enabled=true"), "PrometheusRule")
	if rule.GetNamespace() != "tokenhook-system" {
		t.Errorf("namespace %q, want the release namespace", rule.GetNamespace())
	}
	got := alerts(t, ruleGroups(t, rule))
	for _, name := range []string{"TokenHookHookCallsSlow", "TokenHookHookCallsNearOktaTimeout"} {
		r, ok := got[name]
		if !ok {
			t.Errorf("no alert %s", name)
			continue
		}
		if v := threshold(t, r); v >= 2.5 {
			t.Errorf("%s fires at a p99 of %v s: too close to Okta's 3 s", name, v)
		}
	}
	if _, ok := got["TokenHookPatientListOld"]; ok {
		t.Error("TokenHookPatientListOld is on by default; patientListMaxAgeSeconds is 0")
	}
}

// dashboardFile is the dashboard as the chart ships it.
func dashboardFile(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), chartDir, "dashboards", "tokenhook.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string            `json:"name"`
			Type       string            `json:"type"`
			Datasource *datasource       `json:"datasource"`
			Query      json.RawMessage   `json:"query"`
			Options    []json.RawMessage `json:"options"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func parseDashboard(t *testing.T, b []byte) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	return d
}

// panels lists every panel, those in rows included.
func (d dashboard) panels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaIntervals are Grafana's built-in variables that stand for a duration.
var grafanaIntervals = strings.NewReplacer(
	"${__rate_interval}", "5m", "$__rate_interval", "5m",
	"${__interval}", "1m", "$__interval", "1m",
	"${__range}", "6h", "$__range", "6h")

var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)`)

// labelValues is Grafana's variable query label_values(metric, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// query is one PromQL query of the chart, and where it is.
type query struct{ where, expr string }

// dashboardQueries are the dashboard's panel targets and variable queries as
// PromQL, with Grafana's interval variables filled in. label_values(m, l)
// becomes 'count by (l) (m)', so that l is checked like any grouping label.
func dashboardQueries(t *testing.T, d dashboard) []query {
	t.Helper()
	var out []query
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			out = append(out, query{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), grafanaIntervals.Replace(tg.Expr)})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query: %v", v.Name, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q.Query)
			continue
		}
		out = append(out, query{"variable " + v.Name, fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}
	return out
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	file := dashboardFile(t)
	cm := only(t, render(t, "--values", monitoringValues), "ConfigMap")
	if cm.GetNamespace() != "monitoring" {
		t.Errorf("namespace %q, want monitoring (grafana.dashboard.namespace)", cm.GetNamespace())
	}
	if got := cm.GetLabels()["grafana_dashboard"]; got != "1" {
		t.Errorf("label grafana_dashboard=%q, want \"1\", which the Grafana sidecar looks for", got)
	}
	if got := cm.GetAnnotations()["grafana_folder"]; got != "Identity" {
		t.Errorf("annotation grafana_folder=%q, want Identity (grafana.dashboard.annotations)", got)
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	if !json.Valid([]byte(data["tokenhook.json"])) {
		t.Fatalf("data tokenhook.json is not JSON: keys %v", slices.Sorted(maps.Keys(data)))
	}
	var shipped, rendered any
	_ = json.Unmarshal(file, &shipped)
	_ = json.Unmarshal([]byte(data["tokenhook.json"]), &rendered)
	if diff := cmp.Diff(shipped, rendered); diff != "" {
		t.Errorf("the ConfigMap's dashboard differs from dashboards/tokenhook.json:\n%s", diff)
	}

	d := parseDashboard(t, file)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: both are needed for a stable link", d.UID, d.Title)
	}
	variables := map[string]bool{}
	for _, v := range d.Templating.List {
		variables[v.Name] = true
	}
	if !variables["datasource"] {
		t.Error("no datasource variable: the dashboard would be tied to one data source")
	}
	var targets int
	for _, p := range d.panels() {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			targets++
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s: no expr", p.Title, tg.RefID)
			}
			for _, m := range grafanaVariable.FindAllStringSubmatch(grafanaIntervals.Replace(tg.Expr), -1) {
				if !variables[m[1]] {
					t.Errorf("panel %q target %s uses $%s, which the dashboard does not define", p.Title, tg.RefID, m[1])
				}
			}
		}
	}
	if targets < 10 {
		t.Errorf("only %d queries in the dashboard", targets)
	}
}

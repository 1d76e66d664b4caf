package monitoring

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// exported is what scrapes show: each series name with the values each of
// its labels takes. A histogram is its _bucket (with le), _sum and _count
// series, as Prometheus stores it.
type exported map[string]map[string]map[string]bool

func (e exported) add(families []*dto.MetricFamily) {
	for _, f := range families {
		name := f.GetName()
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				for _, b := range m.GetHistogram().GetBucket() {
					e.series(name+"_bucket", m, "le", fmt.Sprint(b.GetUpperBound()))
				}
				e.series(name+"_bucket", m, "le", "+Inf")
				e.series(name+"_sum", m)
				e.series(name+"_count", m)
			case dto.MetricType_SUMMARY:
				for _, q := range m.GetSummary().GetQuantile() {
					e.series(name, m, "quantile", fmt.Sprint(q.GetQuantile()))
				}
				e.series(name+"_sum", m)
				e.series(name+"_count", m)
			default:
				e.series(name, m)
			}
		}
	}
}

// series records one series of name: m's labels and an extra label pair.
func (e exported) series(name string, m *dto.Metric, extra ...string) {
	if e[name] == nil {
		e[name] = map[string]map[string]bool{}
	}
	set := func(label, value string) {
		if e[name][label] == nil {
			e[name][label] = map[string]bool{}
		}
		e[name][label][value] = true
	}
	for _, l := range m.GetLabel() {
		set(l.GetName(), l.GetValue())
	}
	if len(extra) == 2 {
		set(extra[0], extra[1])
	}
}

// targetLabels are not on the metrics: Prometheus adds job and instance to
// every scraped series, and the Prometheus Operator's ServiceMonitors and
// PodMonitors (like the usual Kubernetes scrape configs) the namespace, pod,
// service, container and endpoint scraped.
var targetLabels = map[string]bool{
	"job": true, "instance": true, "namespace": true, "pod": true, "service": true, "container": true, "endpoint": true,
}

// labelSet is the label names the series of an expression can carry; nil
// when unknown (a metric that is not exported, already reported).
type labelSet map[string]bool

func setOf(names ...string) labelSet {
	s := labelSet{}
	for _, n := range names {
		s[n] = true
	}
	return s
}

func (s labelSet) has(name string) bool { return s == nil || s[name] }

func (s labelSet) without(names ...string) labelSet {
	if s == nil {
		return nil
	}
	out := maps.Clone(s)
	for _, n := range names {
		delete(out, n)
	}
	return out
}

func (s labelSet) union(o labelSet) labelSet {
	if s == nil || o == nil {
		return nil
	}
	out := maps.Clone(s)
	maps.Copy(out, o)
	return out
}

// checker walks a query and reports every metric it reads that is not
// exported, every label it matches or groups by that the series there do not
// carry, and every label value it matches that no series has.
type checker struct {
	metrics   exported
	selectors int
	problems  []string
}

// checkQuery returns the query's problems, none when it only reads what is
// exported.
func checkQuery(expr string, metrics exported) []string {
	ast, err := promql.ParseExpr(expr)
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	c := &checker{metrics: metrics}
	c.labels(ast)
	if c.selectors == 0 {
		c.problemf("reads no metric")
	}
	return c.problems
}

func (c *checker) problemf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// labels checks node and returns the labels of its result.
func (c *checker) labels(node parser.Node) labelSet {
	switch n := node.(type) {
	case *parser.VectorSelector:
		return c.selector(n)
	case *parser.MatrixSelector:
		return c.labels(n.VectorSelector)
	case *parser.SubqueryExpr:
		return c.labels(n.Expr)
	case *parser.ParenExpr:
		return c.labels(n.Expr)
	case *parser.UnaryExpr:
		return c.labels(n.Expr)
	case *parser.StepInvariantExpr:
		return c.labels(n.Expr)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return labelSet{}
	case *parser.AggregateExpr:
		return c.aggregate(n)
	case *parser.Call:
		return c.call(n)
	case *parser.BinaryExpr:
		return c.binary(n)
	}
	c.problemf("%s: the checker does not know %T; teach it", node, node)
	return nil
}

// literalAlternatives matches a regular expression that only lists values.
var literalAlternatives = regexp.MustCompile(`^[A-Za-z0-9_.:+-]+(\|[A-Za-z0-9_.:+-]+)*$`)

func (c *checker) selector(vs *parser.VectorSelector) labelSet {
	c.selectors++
	if vs.Name == "" {
		c.problemf("%s: a selector without a metric name", vs)
		return nil
	}
	series, ok := c.metrics[vs.Name]
	if !ok {
		c.problemf("%s is not exported by the hook server or the manager", vs.Name)
		return nil
	}
	out := labelSet{}
	for l := range series {
		out[l] = true
	}
	for l := range targetLabels {
		out[l] = true
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel || targetLabels[m.Name] {
			continue
		}
		values, ok := series[m.Name]
		if !ok {
			c.problemf("%s has no label %q (it has %v)", vs.Name, m.Name, slices.Sorted(maps.Keys(series)))
			continue
		}
		if strings.Contains(m.Value, "$") { // a Grafana variable
			continue
		}
		switch {
		case m.Type == labels.MatchEqual:
			if !values[m.Value] {
				c.problemf("%s: no series has %s (values: %v)", vs.Name, m, slices.Sorted(maps.Keys(values)))
			}
		case m.Type == labels.MatchRegexp && literalAlternatives.MatchString(m.Value):
			for _, v := range strings.Split(m.Value, "|") {
				if !values[v] {
					c.problemf("%s: no series has %s=%q, which %s lists (values: %v)", vs.Name, m.Name, v, m, slices.Sorted(maps.Keys(values)))
				}
			}
		case m.Type == labels.MatchRegexp:
			if !slices.ContainsFunc(slices.Collect(maps.Keys(values)), m.Matches) {
				c.problemf("%s: no series matches %s", vs.Name, m)
			}
		}
	}
	return out
}

// keepsLabels are the aggregations whose result keeps its series' labels.
var keepsLabels = map[parser.ItemType]bool{parser.TOPK: true, parser.BOTTOMK: true, parser.LIMITK: true, parser.LIMIT_RATIO: true}

func (c *checker) aggregate(n *parser.AggregateExpr) labelSet {
	if n.Param != nil {
		c.labels(n.Param)
	}
	in := c.labels(n.Expr)
	if n.Without {
		if keepsLabels[n.Op] {
			return in
		}
		return in.without(n.Grouping...)
	}
	for _, l := range n.Grouping {
		if !in.has(l) {
			c.problemf("%s: groups by %q, which the series aggregated do not have", n, l)
		}
	}
	if keepsLabels[n.Op] {
		return in
	}
	out := setOf(n.Grouping...)
	if lit, ok := n.Param.(*parser.StringLiteral); ok && n.Op == parser.COUNT_VALUES {
		out[lit.Val] = true
	}
	return out
}

func (c *checker) call(n *parser.Call) labelSet {
	args := make([]labelSet, len(n.Args))
	for i, a := range n.Args {
		args[i] = c.labels(a)
	}
	switch n.Func.Name {
	case "histogram_quantile", "histogram_fraction":
		in := args[len(args)-1]
		if !in.has("le") {
			c.problemf("%s: the series given have no le: read a _bucket series and keep le when aggregating", n)
		}
		return in.without("le")
	case "label_replace", "label_join":
		if dst, ok := n.Args[1].(*parser.StringLiteral); ok {
			return args[0].union(setOf(dst.Val))
		}
		return nil
	}
	for i, a := range n.Args {
		if t := a.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
			return args[i]
		}
	}
	return labelSet{}
}

func (c *checker) binary(n *parser.BinaryExpr) labelSet {
	lhs, rhs := c.labels(n.LHS), c.labels(n.RHS)
	lv, rv := n.LHS.Type() == parser.ValueTypeVector, n.RHS.Type() == parser.ValueTypeVector
	switch {
	case !lv && !rv:
		return labelSet{}
	case !rv:
		return lhs
	case !lv:
		return rhs
	}
	vm := n.VectorMatching
	for _, l := range vm.MatchingLabels {
		if vm.On && (!lhs.has(l) || !rhs.has(l)) {
			c.problemf("%s: on (%s): one side has no label %q, so nothing matches", n, l, l)
		}
		if !vm.On && !lhs.has(l) && !rhs.has(l) {
			c.problemf("%s: ignoring (%s): neither side has label %q", n, l, l)
		}
	}
	switch vm.Card {
	case parser.CardManyToOne, parser.CardOneToMany:
		many, one := lhs, rhs
		if vm.Card == parser.CardOneToMany {
			many, one = rhs, lhs
		}
		for _, l := range vm.Include {
			if !one.has(l) {
				c.problemf("%s: takes label %q from the side that has none", n, l)
			}
		}
		return many.union(setOf(vm.Include...))
	case parser.CardManyToMany:
		if n.Op == parser.LOR {
			return lhs.union(rhs)
		}
		return lhs
	}
	if vm.On {
		return setOf(vm.MatchingLabels...)
	}
	// One to one on all labels but the ignored ones: both sides need the same.
	if l, r := lhs.without(vm.MatchingLabels...), rhs.without(vm.MatchingLabels...); l != nil && r != nil && !maps.Equal(l, r) {
		c.problemf("%s: the sides have labels %v and %v, so no series match one to one",
			n, slices.Sorted(maps.Keys(l)), slices.Sorted(maps.Keys(r)))
	}
	return lhs.without(vm.MatchingLabels...)
}

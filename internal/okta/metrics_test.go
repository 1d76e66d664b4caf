package okta_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/okta/fake"
)

func TestInstrument(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := okta.NewMetrics(reg)
	if okta.NewMetrics(reg) == nil { // registering again reuses the collectors
		t.Fatal("NewMetrics returned nil")
	}
	results := []error{nil, okta.ErrNotFound, &okta.APIError{StatusCode: 503}, &okta.APIError{StatusCode: 400}}
	i := 0
	c := okta.Instrument(&fake.Client{
		GetInlineHookFn: func(context.Context, string) (*okta.InlineHook, error) {
			err := results[i]
			i++
			return &okta.InlineHook{}, err
		},
	}, m.ForOrg("dev-1.okta.com"))
	m.RateLimited("dev-1.okta.com")
	m.RateLimited("dev-1.okta.com")
	for range results {
		_, _ = c.GetInlineHook(context.Background(), "cal1")
	}
	_ = c.DeleteInlineHook(context.Background(), "cal1") // fake: not set

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	var observations uint64
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetName() {
			case "tokenhook_okta_calls_total":
				if labels["org"] != "dev-1.okta.com" {
					t.Errorf("call counted under org %q, want dev-1.okta.com", labels["org"])
				}
				counts[labels["operation"]+"/"+labels["outcome"]] = metric.GetCounter().GetValue()
			case "tokenhook_okta_rate_limited_total":
				counts["429/"+labels["org"]] = metric.GetCounter().GetValue()
			case "tokenhook_okta_call_duration_seconds":
				observations += metric.GetHistogram().GetSampleCount()
			}
		}
	}
	want := map[string]float64{
		"get_inline_hook/ok":        1,
		"get_inline_hook/not_found": 1,
		"get_inline_hook/transient": 1,
		"get_inline_hook/terminal":  1,
		"delete_inline_hook/error":  1,
		"429/dev-1.okta.com":        2,
	}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if observations != 5 {
		t.Errorf("histogram observations = %d, want 5", observations)
	}
	if okta.Instrument(c, nil) != c {
		t.Error("Instrument with nil metrics should return the client unchanged")
	}
}

package monitoring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/controllers"
	"github.com/tokenhook/tokenhook/hookserver"
	"github.com/tokenhook/tokenhook/hookserver/protocol"
	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/okta/fake"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

const hookSecret = "monitoring-test-secret"

// scrapeHookServer runs a hook server on loopback with a patient list, makes
// a patient call, an unauthorized one and a malformed one, and returns its
// /metrics as Prometheus would read them.
func scrapeHookServer(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	dir := t.TempDir()
	patients, secret := filepath.Join(dir, "patients.csv"), filepath.Join(dir, "secret")
	for file, content := range map[string]string{
		patients: "login,patientID\nadministrator1@clouditude.net,P-001\n",
		secret:   hookSecret + "\n",
	} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := hookserver.New(hookserver.Options{
		PatientsFile: patients, AuthSecretFiles: []string{secret},
		Claim: hookserver.DefaultClaim, Tokens: []protocol.Token{protocol.IDToken},
	})
	if err != nil {
		t.Fatal(err)
	}
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, hookLn, metricsLn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hook server: %v", err)
		}
	})
	base := "http://" + hookLn.Addr().String()
	httpc := &http.Client{Timeout: 5 * time.Second}
	testenv.Eventually(t, 5*time.Second, func() error {
		if status, _ := get(httpc, base+hookserver.ReadyzPath); status != http.StatusOK {
			return fmt.Errorf("%s: %d", hookserver.ReadyzPath, status)
		}
		return nil
	})

	event, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "hookserver", "testdata", "token-hook-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		secret string
		body   []byte
		want   int
	}{
		{hookSecret, event, http.StatusOK},                           // patient
		{"not-the-secret", event, http.StatusUnauthorized},           // unauthorized
		{hookSecret, []byte(`{"eventType":`), http.StatusBadRequest}, // malformed_event
	}
	for _, c := range calls {
		req, err := http.NewRequest(http.MethodPost, base+hookserver.DefaultPath, bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(hookserver.DefaultAuthHeader, c.secret)
		res, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		if res.StatusCode != c.want {
			t.Fatalf("hook call: %d, want %d", res.StatusCode, c.want)
		}
	}

	status, body := get(httpc, "http://"+metricsLn.Addr().String()+hookserver.MetricsPath)
	if status != http.StatusOK {
		t.Fatalf("%s: %d", hookserver.MetricsPath, status)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	byName, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse %s: %v", hookserver.MetricsPath, err)
	}
	families := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		families = append(families, f)
		if f.GetName() == "tokenhook_hook_call_duration_seconds" {
			if n := f.GetMetric()[0].GetHistogram().GetSampleCount(); n != uint64(len(calls)) {
				t.Errorf("the latency histogram counts %d calls, want %d", n, len(calls))
			}
		}
	}
	return families
}

func get(c *http.Client, url string) (int, []byte) {
	res, err := c.Get(url)
	if err != nil {
		return 0, nil
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// The manager: the TokenHook controller, as cmd/manager wires it, on an
// envtest control plane, with an Okta that answers every call 429. It
// starts with the first test that needs it.
var manager struct {
	once        sync.Once
	unavailable error // no control plane to run it on
	err         error // it did not start
	k8s         client.Client
	metrics     *okta.Metrics
	stop        func()
}

var namespaces atomic.Int32

func stopManager() {
	if manager.stop != nil {
		manager.stop()
	}
}

// startManager returns a client of the manager's control plane.
func startManager(t *testing.T) client.Client {
	t.Helper()
	manager.once.Do(func() { manager.unavailable, manager.err = runManager() })
	if manager.unavailable != nil {
		testenv.Unavailable(t, manager.unavailable)
	}
	if manager.err != nil {
		t.Fatal(manager.err)
	}
	return manager.k8s
}

func runManager() (unavailable, err error) {
	env, err := testenv.New()
	if err != nil {
		return err, nil
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	manager.stop = func() {
		cancel()
		_ = env.Stop()
	}
	ctrl.SetLogger(logr.Discard())
	if manager.k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return nil, err
	}
	manager.metrics = okta.NewMetrics(crmetrics.Registry) // as cmd/manager does
	rateLimited := &okta.APIError{StatusCode: http.StatusTooManyRequests, ErrorCode: "E0000047"}
	r := controllers.NewTokenHookReconciler(mgr, controllers.Options{
		HookServerImage: "tokenhook:test",
		OktaMetrics:     manager.metrics,
		NewOktaClient: func(context.Context, okta.Config) (okta.Client, error) {
			return &fake.Client{
				GetInlineHookFn:        func(context.Context, string) (*okta.InlineHook, error) { return nil, rateLimited },
				FindInlineHookByNameFn: func(context.Context, string) (*okta.InlineHook, error) { return nil, rateLimited },
				// The manager reads through per-org listings.
				ListInlineHooksFn: func(context.Context) ([]*okta.InlineHook, error) { return nil, rateLimited },
			}, nil
		},
	})
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return nil, err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return nil, nil
}

// newTokenHook creates a TokenHook with its Secret and ConfigMap in a new
// namespace. Its deletion leaves Okta alone.
func newTokenHook(t *testing.T, k8s client.Client, suspend bool) *v1.TokenHook {
	t.Helper()
	ctx := context.Background()
	ns := fmt.Sprintf("monitoring-%d", namespaces.Add(1))
	th := &v1.TokenHook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "portal"},
		Spec: v1.TokenHookSpec{
			Okta: v1.OktaSpec{
				OrgURL:               "https://dev-000000.okta.com",
				CredentialsSecretRef: v1.LocalObjectRef{Name: "okta"},
				Policy:               v1.OktaObjectSelector{Name: "Default Policy"},
				Rule:                 v1.OktaObjectSelector{Name: "Default Policy Rule"},
			},
			HookServer:     v1.HookServerSpec{ExternalURL: "https://tokenhook.example.com/tokenHook"},
			Patients:       v1.PatientsSpec{ConfigMapRef: v1.ConfigMapKeyRef{Name: "patients"}},
			DeletionPolicy: v1.DeletionPolicyOrphan,
			Suspend:        suspend,
		},
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "okta"}, StringData: map[string]string{"apiToken": "token"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "patients"},
			Data: map[string]string{"patients.csv": "login,patientID\nalice@example.com,P-001\n"}},
		th,
	} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	return th
}

// readySeries are the tokenhook_tokenhook_ready series of one TokenHook, by
// reason.
func readySeries(t *testing.T, th *v1.TokenHook) map[string]float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "tokenhook_tokenhook_ready" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["tokenhook_namespace"] == th.Namespace && l["tokenhook_name"] == th.Name {
				out[l["reason"]] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// waitSeries waits until the TokenHook's tokenhook_tokenhook_ready series,
// by reason, are want.
func waitSeries(t *testing.T, th *v1.TokenHook, want map[string]float64) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := readySeries(t, th); !maps.Equal(got, want) {
			return fmt.Errorf("tokenhook_tokenhook_ready of %s/%s by reason: %v, want %v", th.Namespace, th.Name, got, want)
		}
		return nil
	})
}

// TestReadinessFollowsReadyCondition checks the manager's readiness gauge:
// one series per TokenHook, its reason swapped as the Ready condition
// changes, gone with the TokenHook. (That it reads 1 for a Ready TokenHook
// is controllers' unit test.)
func TestReadinessFollowsReadyCondition(t *testing.T) {
	t.Parallel()
	k8s := startManager(t)
	th := newTokenHook(t, k8s, true)
	waitSeries(t, th, map[string]float64{v1.ReasonSuspended: 0})

	// Resumed, it fails at Okta's 429s and its hook server never becomes
	// available (envtest runs no pods).
	patch := client.MergeFrom(th.DeepCopy())
	th.Spec.Suspend = false
	if err := k8s.Patch(context.Background(), th, patch); err != nil {
		t.Fatal(err)
	}
	waitSeries(t, th, map[string]float64{v1.ReasonNotReady: 0})

	if err := k8s.Delete(context.Background(), th); err != nil {
		t.Fatal(err)
	}
	waitSeries(t, th, map[string]float64{})
}

// managerFamilies are the manager's metrics once it has reconciled a
// TokenHook, with a call of each outcome in the Okta metrics.
func managerFamilies(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	k8s := startManager(t)
	th := newTokenHook(t, k8s, false)
	waitSeries(t, th, map[string]float64{v1.ReasonNotReady: 0})

	// The reconciles above met only 429s; drive each other outcome through
	// the manager's instrumented client the same way.
	results := []error{nil, okta.ErrNotFound, &okta.APIError{StatusCode: http.StatusBadRequest}, errors.New("x509: certificate signed by unknown authority")}
	next := 0
	c := okta.Instrument(&fake.Client{GetInlineHookFn: func(context.Context, string) (*okta.InlineHook, error) {
		err := results[next]
		next++
		return &okta.InlineHook{}, err
	}}, manager.metrics)
	for range results {
		_, _ = c.GetInlineHook(context.Background(), "cal1")
	}

	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// Package faults tests the operator when things break: Okta faults while
// TokenHooks are created, edited and deleted; managers killed at chosen
// points; two managers with leader election; Okta unreachable for a while.
//
// Each test runs managers in this process against one envtest control
// plane, and the Okta simulator behind a TCP "front door" that can be shut
// to make Okta unreachable. FAULTS_LONG=1 runs longer variants.
package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/controllers"
	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/oktasim"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

const (
	simToken = "faults-token"
	waitFor  = 90 * time.Second
)

var (
	envErr  error
	restCfg *rest.Config
	k8s     client.Client
	sim     *oktasim.Sim
	simSrv  *oktasim.Server
	door    *frontDoor
	orgURL  string
	nsCount atomic.Int32
)

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

var eventually = testenv.Eventually

func runSuite(m *testing.M) int {
	env, err := testenv.New()
	if err != nil {
		envErr = err
		return m.Run()
	}
	if restCfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if os.Getenv("TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	if k8s, err = client.New(restCfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	// Okta's calls to the hook server pods (the route check) reach stand-ins.
	hooks, err := testenv.StartHookStandIn(k8s, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hook stand-in:", err)
		return 1
	}
	defer hooks.Close()
	sim = oktasim.New(oktasim.Options{Token: simToken, Seed: 42, HookClient: hooks.Client})
	if simSrv, err = sim.StartTLS(); err != nil {
		fmt.Fprintln(os.Stderr, "start simulator:", err)
		return 1
	}
	defer func() { _ = simSrv.Close() }()
	if door, err = openFrontDoor(strings.TrimPrefix(simSrv.URL, "https://")); err != nil {
		fmt.Fprintln(os.Stderr, "front door:", err)
		return 1
	}
	defer door.Shut()
	orgURL = "https://" + door.addr
	return m.Run()
}

func requireEnv(t *testing.T) {
	t.Helper()
	if envErr != nil {
		testenv.Unavailable(t, envErr)
	}
}

// crashPoint makes a manager "die" right after an Okta call succeeds:
// its context is cancelled and the call reports an error, so nothing the
// reconcile would have done next (a status write, the next Okta call)
// happens.
type crashPoint struct {
	op    string // an okta.Client method name
	fired atomic.Bool
}

// manager is one running operator instance.
type manager struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	calls  *callCounter
	leader chan struct{} // closed when elected
}

// callCounter counts the Okta calls of one manager.
type callCounter struct {
	reads, writes atomic.Int64
}

type managerOptions struct {
	leaderElection bool
	crash          *crashPoint
	// config, when set, is the manager's identity (default: the admin's);
	// the Deployment stand-in then runs apart, as the cluster's own.
	config *rest.Config
	// watchNamespaces scopes the manager (--watch-namespaces).
	watchNamespaces []string
}

// startManager runs a manager until the test ends or stop is called.
func startManager(t *testing.T, name string, o managerOptions) *manager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &manager{name: name, cancel: cancel, done: make(chan struct{}), calls: &callCounter{}}
	cfg := restCfg
	if o.config != nil {
		cfg = o.config
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        testenv.Scheme(),
		Cache:                         controllers.CacheOptions(o.watchNamespaces),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		LeaderElection:                o.leaderElection,
		LeaderElectionID:              "tokenhook-faults",
		LeaderElectionNamespace:       "default",
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 ptr.To(2 * time.Second),
		RenewDeadline:                 ptr.To(1500 * time.Millisecond),
		RetryPeriod:                   ptr.To(200 * time.Millisecond),
		Controller:                    config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := controllers.NewTokenHookReconciler(mgr, controllers.Options{
		HookServerImage: "tokenhook:test",
		DriftInterval:   3 * time.Second,
		RotationGrace:   time.Second,
		OktaHTTPClient:  simSrv.Client,
		BackoffBase:     100 * time.Millisecond,
		BackoffMax:      2 * time.Second,
		NewOktaClient: func(ctx context.Context, c okta.Config) (okta.Client, error) {
			c.MaxBackoff = -1
			c.RequestTimeout = 3 * time.Second
			inner, err := okta.NewClient(ctx, c)
			if err != nil {
				return nil, err
			}
			return &observedClient{Client: inner, calls: m.calls, crash: o.crash, die: cancel}, nil
		},
	})
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	standIn := mgr
	if o.config != nil {
		if standIn, err = ctrl.NewManager(restCfg, ctrl.Options{Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"},
			Controller: config.Controller{SkipNameValidation: ptr.To(true)}}); err != nil {
			t.Fatal(err)
		}
		go func() { _ = standIn.Start(ctx) }()
	}
	if err := testenv.AddDeploymentStandIn(standIn, nil); err != nil {
		t.Fatal(err)
	}
	m.leader = make(chan struct{})
	go func() {
		select {
		case <-mgr.Elected():
			close(m.leader)
		case <-ctx.Done():
		}
	}()
	go func() {
		defer close(m.done)
		_ = mgr.Start(ctx)
	}()
	t.Cleanup(m.stop)
	return m
}

// stop kills the manager and waits until it has stopped.
func (m *manager) stop() {
	m.cancel()
	<-m.done
}

// observedClient counts calls and fires the crash point.
type observedClient struct {
	okta.Client
	calls *callCounter
	crash *crashPoint
	die   context.CancelFunc
}

var errCrashed = errors.New("manager crashed (test)")

func (c *observedClient) after(op string, write bool, err error) error {
	if write {
		c.calls.writes.Add(1)
	} else {
		c.calls.reads.Add(1)
	}
	if err == nil && c.crash != nil && c.crash.op == op && c.crash.fired.CompareAndSwap(false, true) {
		c.die()
		return errCrashed
	}
	return err
}

func (c *observedClient) GetInlineHook(ctx context.Context, id string) (*okta.InlineHook, error) {
	h, err := c.Client.GetInlineHook(ctx, id)
	return h, c.after("GetInlineHook", false, err)
}

func (c *observedClient) FindInlineHookByName(ctx context.Context, name string) (*okta.InlineHook, error) {
	h, err := c.Client.FindInlineHookByName(ctx, name)
	return h, c.after("FindInlineHookByName", false, err)
}

func (c *observedClient) CreateInlineHook(ctx context.Context, h okta.InlineHook) (*okta.InlineHook, error) {
	got, err := c.Client.CreateInlineHook(ctx, h)
	return got, c.after("CreateInlineHook", true, err)
}

func (c *observedClient) UpdateInlineHook(ctx context.Context, h okta.InlineHook) (*okta.InlineHook, error) {
	got, err := c.Client.UpdateInlineHook(ctx, h)
	return got, c.after("UpdateInlineHook", true, err)
}

func (c *observedClient) ActivateInlineHook(ctx context.Context, id string) (*okta.InlineHook, error) {
	got, err := c.Client.ActivateInlineHook(ctx, id)
	return got, c.after("ActivateInlineHook", true, err)
}

func (c *observedClient) DeactivateInlineHook(ctx context.Context, id string) (*okta.InlineHook, error) {
	got, err := c.Client.DeactivateInlineHook(ctx, id)
	return got, c.after("DeactivateInlineHook", true, err)
}

func (c *observedClient) DeleteInlineHook(ctx context.Context, id string) error {
	return c.after("DeleteInlineHook", true, c.Client.DeleteInlineHook(ctx, id))
}

func (c *observedClient) FindPolicy(ctx context.Context, as, nameOrID string) (*okta.Policy, error) {
	p, err := c.Client.FindPolicy(ctx, as, nameOrID)
	return p, c.after("FindPolicy", false, err)
}

func (c *observedClient) FindPolicyRule(ctx context.Context, as, policyID, nameOrID string) (*okta.PolicyRule, error) {
	r, err := c.Client.FindPolicyRule(ctx, as, policyID, nameOrID)
	return r, c.after("FindPolicyRule", false, err)
}

func (c *observedClient) GetPolicyRule(ctx context.Context, as, policyID, ruleID string) (*okta.PolicyRule, error) {
	r, err := c.Client.GetPolicyRule(ctx, as, policyID, ruleID)
	return r, c.after("GetPolicyRule", false, err)
}

func (c *observedClient) UpdatePolicyRule(ctx context.Context, as string, rule *okta.PolicyRule) (*okta.PolicyRule, error) {
	r, err := c.Client.UpdatePolicyRule(ctx, as, rule)
	return r, c.after("UpdatePolicyRule", true, err)
}

// frontDoor is a TCP proxy to the simulator that can be shut (connections
// refused, open ones cut) and opened again on the same address.
type frontDoor struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]struct{}
}

func openFrontDoor(target string) (*frontDoor, error) {
	d := &frontDoor{target: target, conns: map[net.Conn]struct{}{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d.addr = ln.Addr().String()
	d.serve(ln)
	return d, nil
}

func (d *frontDoor) serve(ln net.Listener) {
	d.mu.Lock()
	d.ln = ln
	d.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", d.target)
			if err != nil {
				_ = in.Close()
				continue
			}
			d.mu.Lock()
			d.conns[in], d.conns[out] = struct{}{}, struct{}{}
			d.mu.Unlock()
			pipe := func(a, b net.Conn) {
				_, _ = io.Copy(a, b)
				_ = a.Close()
				_ = b.Close()
				d.mu.Lock()
				delete(d.conns, a)
				delete(d.conns, b)
				d.mu.Unlock()
			}
			go pipe(in, out)
			go pipe(out, in)
		}
	}()
}

// Shut refuses new connections and cuts open ones.
func (d *frontDoor) Shut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ln != nil {
		_ = d.ln.Close()
		d.ln = nil
	}
	for c := range d.conns {
		_ = c.Close()
	}
}

// Open listens again on the same address.
func (d *frontDoor) Open(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		t.Fatalf("reopen front door: %v", err)
	}
	d.serve(ln)
}

// fixture is a namespace with credentials, patients and n rules.
type fixture struct {
	t        *testing.T
	ns       string
	policyID string
	rules    []oktasim.Rule
}

func newFixture(t *testing.T, rules int) *fixture {
	t.Helper()
	requireEnv(t)
	n := nsCount.Add(1)
	f := &fixture{t: t, ns: fmt.Sprintf("faults-%d", n)}
	ctx := context.Background()
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "okta", Namespace: f.ns}, StringData: map[string]string{"apiToken": simToken}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "patients", Namespace: f.ns},
			Data: map[string]string{"patients.csv": "login,patientID\nalice@example.com,P-1\n"}},
	} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	policy, err := sim.PolicyByName("default", "Default Policy")
	if err != nil {
		t.Fatal(err)
	}
	f.policyID = policy.ID
	for i := range rules {
		r, err := sim.AddRule("default", policy.ID, oktasim.RuleSpec{
			Name: fmt.Sprintf("%s rule %d", f.ns, i),
			Conditions: oktasim.RuleConditions{GrantTypes: []string{"authorization_code"}, Scopes: []string{"*"},
				Groups: oktasim.IncludeExclude{Include: []string{"EVERYONE"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.rules = append(f.rules, r)
	}
	return f
}

func (f *fixture) name(i int) string { return fmt.Sprintf("th-%d", i) }

func (f *fixture) hookName(i int) string { return "tokenhook/" + f.ns + "/" + f.name(i) }

func (f *fixture) create(i int) {
	f.t.Helper()
	th := &v1.TokenHook{
		ObjectMeta: metav1.ObjectMeta{Name: f.name(i), Namespace: f.ns},
		Spec: v1.TokenHookSpec{
			Okta: v1.OktaSpec{OrgURL: orgURL, CredentialsSecretRef: v1.LocalObjectRef{Name: "okta"},
				Policy: v1.OktaObjectSelector{ID: f.policyID}, Rule: v1.OktaObjectSelector{ID: f.rules[i].ID}},
			HookServer: v1.HookServerSpec{ExternalURL: fmt.Sprintf("https://hooks.example.com/%s/%d", f.ns, i)},
			Patients:   v1.PatientsSpec{ConfigMapRef: v1.ConfigMapKeyRef{Name: "patients"}},
		},
	}
	if err := k8s.Create(context.Background(), th); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(i int) (*v1.TokenHook, error) {
	th := &v1.TokenHook{}
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: f.name(i)}, th)
	return th, err
}

func (f *fixture) update(i int, fn func(*v1.TokenHook)) {
	f.t.Helper()
	eventually(f.t, 10*time.Second, func() error {
		th, err := f.get(i)
		if err != nil {
			return err
		}
		fn(th)
		return k8s.Update(context.Background(), th)
	})
}

func (f *fixture) delete(i int) {
	f.t.Helper()
	th, err := f.get(i)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := k8s.Delete(context.Background(), th); err != nil {
		f.t.Fatal(err)
	}
}

// ready reports nil once TokenHook i is Ready for its generation.
func (f *fixture) ready(i int) error {
	th, err := f.get(i)
	if err != nil {
		return err
	}
	c := meta.FindStatusCondition(th.Status.Conditions, v1.ConditionReady)
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != th.Generation {
		return fmt.Errorf("%s not Ready: %+v", th.Name, th.Status.Conditions)
	}
	return nil
}

// inOkta checks the simulator holds exactly one active hook for TokenHook i
// with the URL given, linked from its rule.
func (f *fixture) inOkta(i int, url string) error {
	hooks := hooksNamed(f.hookName(i))
	if len(hooks) != 1 {
		return fmt.Errorf("%d hooks named %s, want 1", len(hooks), f.hookName(i))
	}
	h := hooks[0]
	if h.Status != oktasim.StatusActive || h.Channel.URI != url {
		return fmt.Errorf("hook %s is %s at %s, want ACTIVE at %s", h.ID, h.Status, h.Channel.URI, url)
	}
	r, err := sim.Rule("default", f.policyID, f.rules[i].ID)
	if err != nil {
		return err
	}
	if r.Token.InlineHookID != h.ID {
		return fmt.Errorf("rule %s calls %q, want %s", r.ID, r.Token.InlineHookID, h.ID)
	}
	return nil
}

// goneFromOkta checks TokenHook i left no hook and no link behind.
func (f *fixture) goneFromOkta(i int) error {
	if _, err := f.get(i); !apierrors.IsNotFound(err) {
		return fmt.Errorf("TokenHook %s still exists (%w)", f.name(i), err)
	}
	if hooks := hooksNamed(f.hookName(i)); len(hooks) != 0 {
		return fmt.Errorf("orphaned hook %s left in Okta", hooks[0].ID)
	}
	r, err := sim.Rule("default", f.policyID, f.rules[i].ID)
	if err != nil {
		return err
	}
	if r.Token.InlineHookID != "" {
		return fmt.Errorf("rule %s still calls %s", r.ID, r.Token.InlineHookID)
	}
	return nil
}

func hooksNamed(name string) []oktasim.Hook {
	var out []oktasim.Hook
	for _, h := range sim.Hooks() {
		if h.Name == name {
			out = append(out, h)
		}
	}
	return out
}

// all joins the errors of fn over indexes.
func all(idx []int, fn func(int) error) error {
	var errs []error
	for _, i := range idx {
		errs = append(errs, fn(i))
	}
	return errors.Join(errs...)
}

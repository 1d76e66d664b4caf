package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/internal/okta"
	"github.com/tokenhook/tokenhook/internal/oktasim"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// The envtest suite: a real kube-apiserver and etcd, the manager running the
// TokenHook controller, and the Okta simulator over HTTPS. envtest runs no
// pods, so a small stand-in for the Deployment controller marks hook server
// Deployments available (except those of TokenHooks named "unavailable-*"),
// and a stand-in for their pods answers Okta's calls (testenv.HookStandIn;
// those of TokenHooks named "misrouted-*" get 404, as from a wrong route).

const (
	simToken      = "sim-api-token"
	driftInterval = 2 * time.Second
	rotationGrace = 1 * time.Second
	waitFor       = 45 * time.Second
)

var (
	envErr     error // why the control plane could not start, if it could not
	reconciler *TokenHookReconciler
	restCfg    *rest.Config
	k8s        client.Client
	sim        *oktasim.Sim
	simSrv     *oktasim.Server
	nsCount    atomic.Int32
)

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

var eventually = testenv.Eventually

func runSuite(m *testing.M) int {
	env, err := testenv.New()
	if err != nil {
		envErr = err
		return m.Run() // unit tests run; envtest tests skip, or fail under CI
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		return 1
	}
	restCfg = cfg
	defer func() { _ = env.Stop() }()

	// TEST_LOG=1 shows the manager's logs.
	if os.Getenv("TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	// Okta's calls to the hook servers (the route check) reach stand-in pods,
	// which see their Secrets as kubelet mounts them.
	kubelet := &kubeletView{Reader: k8s}
	if err := kubelet.watchSecrets(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "watch Secrets:", err)
		return 1
	}
	defer kubelet.stop()
	hooks, err := testenv.StartHookStandIn(kubelet, func(d *appsv1.Deployment) bool {
		return strings.HasPrefix(d.Name, "misrouted-")
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start hook stand-in:", err)
		return 1
	}
	defer hooks.Close()
	sim = oktasim.New(oktasim.Options{Token: simToken, Seed: 1, HookClient: hooks.Client})
	if simSrv, err = sim.StartTLS(); err != nil {
		fmt.Fprintln(os.Stderr, "start Okta simulator:", err)
		return 1
	}
	defer func() { _ = simSrv.Close() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  testenv.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "new manager:", err)
		return 1
	}
	r := NewTokenHookReconciler(mgr, Options{
		HookServerImage: "tokenhook:test",
		DriftInterval:   driftInterval,
		RotationGrace:   rotationGrace,
		OktaHTTPClient:  simSrv.Client,
		OktaCABundle:    simSrv.CACertPEM,
		NewOktaClient: func(ctx context.Context, c okta.Config) (okta.Client, error) {
			c.MaxBackoff = -1 // retry the simulator's 429s at once
			c.RequestTimeout = 5 * time.Second
			return okta.NewClient(ctx, c)
		},
	})
	r.Client = laggingClient{r.Client}
	reconciler = r
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		fmt.Fprintln(os.Stderr, "setup controller:", err)
		return 1
	}
	if err := testenv.AddDeploymentStandIn(mgr, func(d *appsv1.Deployment) bool {
		return strings.HasPrefix(d.Name, "unavailable-")
	}); err != nil {
		fmt.Fprintln(os.Stderr, "setup fake deployment controller:", err)
		return 1
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return m.Run()
}

// requireEnv skips (or under CI fails) a test that needs the control plane.
func requireEnv(t *testing.T) {
	t.Helper()
	if envErr != nil {
		testenv.Unavailable(t, envErr)
	}
}

// fixture is one test's namespace with its own Okta policy rule.
type fixture struct {
	t        *testing.T
	ns       string
	ruleName string
	ruleID   string
	policyID string
}

const patientsCSV = "login,patientID\nalice@example.com,P-001\nbob@example.com,P-002\n"

// newFixture makes a namespace with Okta credentials, a patients ConfigMap
// and a fresh rule in the default authorization server's Default Policy.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireEnv(t)
	n := nsCount.Add(1)
	f := &fixture{t: t, ns: fmt.Sprintf("test-%d", n), ruleName: fmt.Sprintf("Rule %d", n)}
	f.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}})
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "okta", Namespace: f.ns},
		StringData: map[string]string{"apiToken": simToken}})
	f.create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "patients", Namespace: f.ns},
		Data: map[string]string{"patients.csv": patientsCSV}})
	policy, err := sim.PolicyByName("default", "Default Policy")
	if err != nil {
		t.Fatal(err)
	}
	rule, err := sim.AddRule("default", policy.ID, oktasim.RuleSpec{
		Name: f.ruleName, Priority: int(n) + 1,
		Conditions: oktasim.RuleConditions{
			GrantTypes: []string{"authorization_code", "password"}, Scopes: []string{"*"},
			Groups: oktasim.IncludeExclude{Include: []string{"EVERYONE"}},
		},
		Token: oktasim.TokenActions{AccessTokenLifetimeMinutes: 30, RefreshTokenWindowMinutes: 10080},
	})
	if err != nil {
		t.Fatalf("add rule: %v", err)
	}
	f.ruleID, f.policyID = rule.ID, policy.ID
	return f
}

func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		f.t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

// tokenHook returns a valid TokenHook for this fixture's rule.
func (f *fixture) tokenHook(name string) *v1.TokenHook {
	return &v1.TokenHook{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns},
		Spec: v1.TokenHookSpec{
			Okta: v1.OktaSpec{
				OrgURL:               simSrv.URL,
				CredentialsSecretRef: v1.LocalObjectRef{Name: "okta"},
				Policy:               v1.OktaObjectSelector{Name: "Default Policy"},
				Rule:                 v1.OktaObjectSelector{Name: f.ruleName},
			},
			HookServer: v1.HookServerSpec{ExternalURL: "https://hooks.example.com/tokenHook"},
			Patients:   v1.PatientsSpec{ConfigMapRef: v1.ConfigMapKeyRef{Name: "patients"}},
		},
	}
}

// get reads the TokenHook afresh.
func (f *fixture) get(name string) *v1.TokenHook {
	f.t.Helper()
	th := &v1.TokenHook{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, th); err != nil {
		f.t.Fatalf("get TokenHook %s: %v", name, err)
	}
	return th
}

// update applies fn to the TokenHook, retrying on conflicts.
func (f *fixture) update(name string, fn func(*v1.TokenHook)) {
	f.t.Helper()
	eventually(f.t, 10*time.Second, func() error {
		th := f.get(name)
		fn(th)
		return k8s.Update(context.Background(), th)
	})
}

// waitCondition waits until the TokenHook's condition has status and reason
// for its current generation, and returns the TokenHook.
func (f *fixture) waitCondition(name, condType string, status metav1.ConditionStatus, reason string) *v1.TokenHook {
	f.t.Helper()
	var th *v1.TokenHook
	eventually(f.t, waitFor, func() error {
		th = f.get(name)
		c := meta.FindStatusCondition(th.Status.Conditions, condType)
		switch {
		case c == nil:
			return fmt.Errorf("no %s condition yet; conditions: %s", condType, conditions(th))
		case c.ObservedGeneration != th.Generation:
			return fmt.Errorf("%s is for generation %d, not %d", condType, c.ObservedGeneration, th.Generation)
		case c.Status != status || (reason != "" && c.Reason != reason):
			return fmt.Errorf("%s is %s/%s (%s), want %s/%s", condType, c.Status, c.Reason, c.Message, status, reason)
		}
		return nil
	})
	return th
}

func (f *fixture) waitReady(name string) *v1.TokenHook {
	f.t.Helper()
	return f.waitCondition(name, v1.ConditionReady, metav1.ConditionTrue, v1.ReasonReady)
}

// waitGone waits until the TokenHook no longer exists.
func (f *fixture) waitGone(name string) {
	f.t.Helper()
	eventually(f.t, waitFor, func() error {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, &v1.TokenHook{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("TokenHook %s still exists (get: %w)", name, err)
	})
}

func (f *fixture) rule() oktasim.Rule {
	f.t.Helper()
	r, err := sim.Rule("default", f.policyID, f.ruleID)
	if err != nil {
		f.t.Fatalf("read rule: %v", err)
	}
	return r
}

func conditions(th *v1.TokenHook) string {
	var parts []string
	for _, c := range th.Status.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s(%s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(parts, "; ")
}

// hooksNamed counts the simulator's hooks with a name.
func hooksNamed(name string) []oktasim.Hook {
	var out []oktasim.Hook
	for _, h := range sim.Hooks() {
		if h.Name == name {
			out = append(out, h)
		}
	}
	return out
}

// laggingDeployments holds Deployments that the controller's cached client
// returns instead of the live ones, as an informer that lags behind would.
var laggingDeployments sync.Map // client.ObjectKey -> *appsv1.Deployment

type laggingClient struct{ client.Client }

// failingApplies makes the controller's applies of Deployments in a
// namespace fail with the error stored for it, as an RBAC rule that forbids
// them, or an API server in trouble, would.
var failingApplies sync.Map // namespace -> error

func (c laggingClient) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	if raw, err := json.Marshal(obj); err == nil {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if json.Unmarshal(raw, &head) == nil && head.Kind == "Deployment" {
			if err, ok := failingApplies.Load(head.Metadata.Namespace); ok {
				return err.(error)
			}
		}
	}
	return c.Client.Apply(ctx, obj, opts...)
}

func (c laggingClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if d, ok := obj.(*appsv1.Deployment); ok {
		if stale, ok := laggingDeployments.Load(key); ok {
			stale.(*appsv1.Deployment).DeepCopyInto(d)
			return nil
		}
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// kubeletSync is how long after a change to a Secret the suite's stand-in
// pods see it, as kubelet refreshes mounted Secrets only periodically (about
// a minute in a cluster); shorter than rotationGrace, as the operator's grace
// must be longer than kubelet's refresh.
const kubeletSync = 500 * time.Millisecond

// kubeletView shows Secrets as the hook server pods see their mounted
// files: each change kubeletSync after it was made, and the last content
// while the Secret is deleted (kubelet keeps the files of a volume whose
// Secret is gone). Pods started by a rollout (the Deployment stand-in makes
// one complete at once) mount the Secrets as they are then.
type kubeletView struct {
	client.Reader
	stop        func()
	mu          sync.Mutex
	versions    map[client.ObjectKey][]seenSecret // oldest first
	generations map[client.ObjectKey]int64        // of the Deployments, as last listed
}

type seenSecret struct {
	secret *corev1.Secret
	seen   time.Time
}

// watchSecrets records when each Secret's content changes.
func (k *kubeletView) watchSecrets(cfg *rest.Config) error {
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.stop = cancel
	go func() {
		for ctx.Err() == nil {
			w, err := wc.Watch(ctx, &corev1.SecretList{})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if s, ok := ev.Object.(*corev1.Secret); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
					k.mu.Lock()
					k.observedLocked(client.ObjectKeyFromObject(s), s, time.Now())
					k.mu.Unlock()
				}
			}
		}
	}()
	return nil
}

func (k *kubeletView) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := k.Reader.List(ctx, list, opts...); err != nil {
		return err
	}
	deps, ok := list.(*appsv1.DeploymentList)
	if !ok {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.generations == nil {
		k.generations = map[client.ObjectKey]int64{}
	}
	for _, d := range deps.Items {
		key := client.ObjectKeyFromObject(&d)
		if k.generations[key] == d.Generation {
			continue
		}
		k.generations[key] = d.Generation
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Secret == nil {
				continue
			}
			live := &corev1.Secret{}
			if err := k.Reader.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: v.Secret.SecretName}, live); err == nil {
				k.observedLocked(client.ObjectKeyFromObject(live), live, time.Now().Add(-kubeletSync))
			}
		}
	}
	return nil
}

func (k *kubeletView) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return k.Reader.Get(ctx, key, obj, opts...)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := k.versions[key]
	if len(seen) == 0 {
		// Not watched yet: a pod mounts what there is.
		if err := k.Reader.Get(ctx, key, sec, opts...); err != nil {
			return err
		}
		k.observedLocked(key, sec.DeepCopy(), time.Now().Add(-kubeletSync))
		return nil
	}
	// The newest content old enough to be on the pods, else the first.
	mounted := 0
	for i := range seen {
		if time.Since(seen[i].seen) >= kubeletSync {
			mounted = i
		}
	}
	k.versions[key] = seen[mounted:]
	seen[mounted].secret.DeepCopyInto(sec)
	return nil
}

// observedLocked records a Secret's content as of a time, unless it is the
// latest already (then only an earlier time counts); content dated before
// later versions replaces them.
func (k *kubeletView) observedLocked(key client.ObjectKey, s *corev1.Secret, at time.Time) {
	if k.versions == nil {
		k.versions = map[client.ObjectKey][]seenSecret{}
	}
	seen := k.versions[key]
	if n := len(seen); n > 0 && equality.Semantic.DeepEqual(seen[n-1].secret.Data, s.Data) {
		if at.Before(seen[n-1].seen) {
			seen[n-1].seen = at
		}
		return
	}
	for len(seen) > 0 && !seen[len(seen)-1].seen.Before(at) {
		seen = seen[:len(seen)-1]
	}
	k.versions[key] = append(seen, seenSecret{secret: s, seen: at})
}

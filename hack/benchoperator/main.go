// Command benchoperator measures the operator as its work grows: it creates
// 1, 10, 100 and 300 TokenHooks spread over simulated Okta orgs (each with a
// per-minute rate limit and the 50-hook cap), and reports time to Ready, Okta
// calls per TokenHook, 429s, the manager's peak memory and CPU, reconciles,
// steady-state calls per TokenHook per hour, and time to clean up.
//
// It runs the local control plane (envtest), the manager binary as its own
// process (so /proc tells its CPU and memory), and the simulators in this
// process. Its output is for people to read; it is not a test.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/controllers"
	"github.com/tokenhook/tokenhook/internal/oktasim"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

const simToken = "bench-token"

// profileDir, when set, receives CPU profiles of each round's creates.
var profileDir string

// restConfig reaches the local control plane as its admin.
var restConfig *rest.Config

func main() {
	var (
		sizes       = flag.String("sizes", "1,10,100,300", "numbers of TokenHooks, comma-separated")
		rateLimit   = flag.Int("org-rate-limit", 600, "each simulated org's API calls per minute")
		hookCap     = flag.Int("hook-cap", oktasim.DefaultHookLimit, "each org's inline hook cap")
		budget      = flag.Int("okta-calls-per-minute", 300, "the manager's per-org call budget (--okta-calls-per-minute)")
		drift       = flag.Duration("drift-interval", time.Minute, "the manager's --drift-interval (its default is 5m)")
		steadyFor   = flag.Int("steady-periods", 2, "drift periods to hold steady state")
		concurrency = flag.Int("max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles, "the manager's --max-concurrent-reconciles")
		busyShare   = flag.Float64("busy-org-share", 0.5, "share of the first org's rate limit that its other clients use (0: none)")
	)
	flag.StringVar(&profileDir, "profile-dir", "", "write CPU profiles of the manager and the API server, taken over the first 30 s of each round's creates, into this folder")
	flag.Parse()
	if err := run(*sizes, *rateLimit, *hookCap, *budget, *drift, *steadyFor, *concurrency, *busyShare); err != nil {
		fmt.Fprintln(os.Stderr, "benchoperator:", err)
		os.Exit(1)
	}
}

func run(sizeList string, rateLimit, hookCap, budget int, drift time.Duration, steadyPeriods, concurrency int, busyShare float64) error {
	ctrl.SetLogger(logr.Discard())
	var sizes []int
	for _, s := range strings.Split(sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("bad size %q", s)
		}
		sizes = append(sizes, n)
	}
	work, err := os.MkdirTemp("", "benchoperator-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()

	step("building the manager")
	managerBin := filepath.Join(work, "manager")
	build := exec.Command("go", "build", "-o", managerBin, "./cmd/manager")
	build.Dir, build.Stdout, build.Stderr = testenv.RepoRoot(), os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build manager: %w", err)
	}

	step("starting the local control plane")
	env, err := testenv.New()
	if err != nil {
		return err
	}
	// envtest runs no garbage collector, so the Services of earlier rounds
	// stay: give them more than the default /24 of ClusterIPs.
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.96.0.0/16")
	cfg, err := env.Start()
	if err != nil {
		return err
	}
	// The stand-ins for kube-controller-manager and kubelet must not be what
	// paces the run: no client-side limit of client-go's 5 a second.
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	restConfig = cfg
	defer func() { _ = env.Stop() }()
	admin, err := env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(work, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}
	k8s, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return err
	}
	// envtest runs no pods: report hook server Deployments available.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := startFakeDeployments(ctx, cfg); err != nil {
		return err
	}
	// ... and answer Okta's calls to their pods (the operator's route check).
	hooks, err := testenv.StartHookStandIn(k8s, nil)
	if err != nil {
		return err
	}
	defer hooks.Close()

	fmt.Printf("\nmachine: %d CPUs; orgs: %d calls/min, %d hooks each; the first org's other clients use %.0f%% of its limit; "+
		"manager: --okta-calls-per-minute=%d --drift-interval=%s --max-concurrent-reconciles=%d\n\n",
		numCPU(), rateLimit, hookCap, 100*busyShare, budget, drift, concurrency)
	var results []result
	for _, n := range sizes {
		res, err := benchOne(ctx, k8s, hooks.Client, managerBin, kubeconfigPath, work, n, rateLimit, hookCap, budget, drift, steadyPeriods, concurrency, busyShare)
		if err != nil {
			return fmt.Errorf("%d TokenHooks: %w", n, err)
		}
		results = append(results, res)
		printResults(results)
	}
	return nil
}

type result struct {
	n, orgs                 int
	ready                   time.Duration
	readyFloor              time.Duration
	reads, writes, tooMany  int
	othersTooMany           int
	createCalls             map[string]int // by method and endpoint
	reconciles              int
	kubeRequests            int           // the manager's, to Ready
	kubeThrottled           time.Duration // their total wait in client-go's rate limiter
	cpu                     time.Duration
	peakRSS                 int64
	steadyReadsPerHookHour  float64
	steadyWritesPerHookHour float64
	cleanup                 time.Duration
	cleanupFloor            time.Duration
	pastCap                 string
	maxOrgCallsPerMinute    int
}

func benchOne(ctx context.Context, k8s client.Client, hookClient *http.Client, managerBin, kubeconfig, work string,
	n, rateLimit, hookCap, budget int, drift time.Duration, steadyPeriods, concurrency int, busyShare float64) (result, error) {
	res := result{n: n, orgs: (n + hookCap - 1) / hookCap}
	step(fmt.Sprintf("%d TokenHooks over %d orgs", n, res.orgs))
	ns := fmt.Sprintf("bench-%d", n)
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return res, err
	}
	if err := k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "patients", Namespace: ns},
		Data: map[string]string{"patients.csv": "login,patientID\nalice@example.com,P-1\n"}}); err != nil {
		return res, err
	}

	// The orgs: one simulator each, over HTTPS; the manager trusts their CAs.
	type org struct {
		sim   *oktasim.Sim
		srv   *oktasim.Server
		rules []string
	}
	orgs := make([]*org, res.orgs)
	var caBundle []byte
	for o := range orgs {
		sim := oktasim.New(oktasim.Options{Token: simToken, HookLimit: hookCap, RateLimitPerMinute: rateLimit, Seed: int64(o + 1), HookClient: hookClient})
		srv, err := sim.StartTLS()
		if err != nil {
			return res, err
		}
		defer func() { _ = srv.Close() }()
		orgs[o] = &org{sim: sim, srv: srv}
		caBundle = append(caBundle, srv.CACertPEM...)
		if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("okta-%d", o), Namespace: ns},
			StringData: map[string]string{"apiToken": simToken}}); err != nil {
			return res, err
		}
	}
	// The first org's other clients: steady traffic at their share of its
	// limit, on an endpoint the operator never calls.
	busy := newOtherTraffic(orgs[0].srv, busyShare*float64(rateLimit))
	defer busy.stop()
	capacity := func(o int) float64 { // calls a minute left to the operator in org o
		c := float64(budget)
		if o == 0 {
			c = min(c, float64(rateLimit)*(1-busyShare))
		}
		return c
	}
	caPath := filepath.Join(work, fmt.Sprintf("ca-%d.pem", n))
	if err := os.WriteFile(caPath, caBundle, 0o600); err != nil {
		return res, err
	}
	policyOf := func(o *org) (string, error) {
		p, err := o.sim.PolicyByName("default", "Default Policy")
		return p.ID, err
	}
	// Rules are made directly in the simulator: they are the org's, not the
	// operator's, and their creation is not counted.
	for i := range n + 1 {
		o := orgs[min(i/hookCap, len(orgs)-1)]
		pid, err := policyOf(o)
		if err != nil {
			return res, err
		}
		r, err := o.sim.AddRule("default", pid, oktasim.RuleSpec{Name: fmt.Sprintf("bench rule %d", i),
			Conditions: oktasim.RuleConditions{GrantTypes: []string{"authorization_code"}, Scopes: []string{"*"},
				Groups: oktasim.IncludeExclude{Include: []string{"EVERYONE"}}}})
		if err != nil {
			return res, err
		}
		o.rules = append(o.rules, r.ID)
	}

	metricsAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	pprofAddr := "0"
	if profileDir != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return res, err
		}
	}
	mgr := exec.Command(managerBin, "--pprof-bind-address="+pprofAddr,
		"--kubeconfig="+kubeconfig, "--metrics-bind-address="+metricsAddr, "--health-probe-bind-address=0",
		"--hookserver-image=tokenhook:bench", "--okta-ca-file="+caPath,
		"--okta-calls-per-minute="+strconv.Itoa(budget), "--drift-interval="+drift.String(),
		"--max-concurrent-reconciles="+strconv.Itoa(concurrency), "--zap-log-level=error")
	mgr.Stderr = os.Stderr
	if err := mgr.Start(); err != nil {
		return res, err
	}
	defer func() {
		_ = mgr.Process.Kill()
		_ = mgr.Wait()
	}()

	start := time.Now()
	if profileDir != "" {
		profiles := startProfiles(ctx, restConfig, pprofAddr, n)
		defer profiles()
	}
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("th-%d", i)
	}
	// Created as a GitOps tool applies a folder, several at a time: one
	// client's serial creates (about 0.1 s each on a busy envtest) would
	// take as long as the Okta floor and measure the client, not the
	// operator.
	creates, _ := errgroup.WithContext(ctx)
	creates.SetLimit(8)
	for i := range n {
		creates.Go(func() error {
			o := i / hookCap
			return k8s.Create(ctx, tokenHook(ns, names[i], orgs[o].srv.URL, fmt.Sprintf("okta-%d", o), orgs[o].rules[i%hookCap]))
		})
	}
	if err := creates.Wait(); err != nil {
		return res, err
	}
	step(fmt.Sprintf("%d TokenHooks created in %s", n, time.Since(start).Round(100*time.Millisecond)))
	if err := waitUntil(ctx, 30*time.Minute, func() (bool, string) {
		ready := countReady(ctx, k8s, ns, names)
		return ready == n, fmt.Sprintf("%d/%d Ready", ready, n)
	}); err != nil {
		return res, err
	}
	res.ready = time.Since(start)
	for i, o := range orgs {
		ours := operatorCalls(o.sim.Calls())
		for _, c := range ours {
			if res.createCalls == nil {
				res.createCalls = map[string]int{}
			}
			res.createCalls[c.Endpoint]++
			switch {
			case c.Status == http.StatusTooManyRequests:
				res.tooMany++
			case c.IsWrite():
				res.writes++
			default:
				res.reads++
			}
		}
		res.othersTooMany += len(o.sim.Calls()) - len(ours) - busy.okCalls(o.sim.Calls())
		res.readyFloor = max(res.readyFloor, floor(len(ours), capacity(i), budget))
		res.maxOrgCallsPerMinute = max(res.maxOrgCallsPerMinute, busiestMinute(ours))
	}
	res.reconciles = reconciles(metricsAddr)
	res.kubeRequests, res.kubeThrottled = kubeRequests(metricsAddr)

	step(fmt.Sprintf("steady state for %d drift periods (%s)", steadyPeriods, time.Duration(steadyPeriods)*drift))
	for _, o := range orgs {
		o.sim.ResetCalls()
	}
	hold := time.Duration(steadyPeriods) * drift
	time.Sleep(hold)
	var sReads, sWrites int
	for _, o := range orgs {
		for _, c := range operatorCalls(o.sim.Calls()) {
			if c.IsWrite() {
				sWrites++
			} else {
				sReads++
			}
		}
	}
	perHookHour := func(calls int) float64 { return float64(calls) / float64(n) / hold.Hours() }
	res.steadyReadsPerHookHour, res.steadyWritesPerHookHour = perHookHour(sReads), perHookHour(sWrites)

	// One more TokenHook in a full org: a clear condition, nobody else disturbed.
	if n%hookCap == 0 {
		last := orgs[len(orgs)-1]
		th := tokenHook(ns, "past-cap", last.srv.URL, fmt.Sprintf("okta-%d", len(orgs)-1), last.rules[len(last.rules)-1])
		if err := k8s.Create(ctx, th); err != nil {
			return res, err
		}
		if err := waitUntil(ctx, 5*time.Minute, func() (bool, string) {
			got := &v1.TokenHook{}
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(th), got); err != nil {
				return false, err.Error()
			}
			c := meta.FindStatusCondition(got.Status.Conditions, v1.ConditionInlineHookRegistered)
			if c != nil && c.Reason == v1.ReasonHookLimitReached {
				res.pastCap = c.Message
				return true, ""
			}
			return false, "waiting for HookLimitReached"
		}); err != nil {
			return res, err
		}
		if ready := countReady(ctx, k8s, ns, names); ready != n {
			return res, fmt.Errorf("the TokenHook past the cap disturbed the others: %d/%d Ready", ready, n)
		}
		// It retries its create once per drift period, until there is room.
		last.sim.ResetCalls()
		time.Sleep(2 * drift)
		refused := 0
		for _, c := range operatorCalls(last.sim.Calls()) {
			if c.IsWrite() && c.Status >= 400 {
				refused++
			}
		}
		res.pastCap += fmt.Sprintf("\n  it retried its create %d times in %s (once per drift period), and nothing else was disturbed", refused, 2*drift)
		names = append(names, "past-cap")
	}

	step("deleting every TokenHook")
	for _, o := range orgs {
		o.sim.ResetCalls()
	}
	start = time.Now()
	if err := k8s.DeleteAllOf(ctx, &v1.TokenHook{}, client.InNamespace(ns)); err != nil {
		return res, err
	}
	if err := waitUntil(ctx, 30*time.Minute, func() (bool, string) {
		left := 0
		for _, o := range orgs {
			left += len(o.sim.Hooks())
		}
		var list v1.TokenHookList
		if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		return left == 0 && len(list.Items) == 0, fmt.Sprintf("%d hooks left in Okta, %d TokenHooks", left, len(list.Items))
	}); err != nil {
		return res, err
	}
	res.cleanup = time.Since(start)
	for i, o := range orgs {
		ours := operatorCalls(o.sim.Calls())
		res.cleanupFloor = max(res.cleanupFloor, floor(len(ours), capacity(i), budget))
		for _, c := range ours {
			if c.Status == http.StatusTooManyRequests {
				res.tooMany++
			}
		}
	}
	res.cpu, res.peakRSS = procUsage(mgr.Process.Pid)
	return res, nil
}

func tokenHook(ns, name, orgURL, creds, ruleID string) *v1.TokenHook {
	return &v1.TokenHook{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.TokenHookSpec{
			Okta: v1.OktaSpec{OrgURL: orgURL, CredentialsSecretRef: v1.LocalObjectRef{Name: creds},
				Policy: v1.OktaObjectSelector{Name: "Default Policy"}, Rule: v1.OktaObjectSelector{ID: ruleID}},
			HookServer: v1.HookServerSpec{ExternalURL: "https://hooks.example.com/" + ns + "/" + name, Replicas: ptr.To[int32](2)},
			Patients:   v1.PatientsSpec{ConfigMapRef: v1.ConfigMapKeyRef{Name: "patients"}},
		},
	}
}

func countReady(ctx context.Context, k8s client.Client, ns string, names []string) int {
	var list v1.TokenHookList
	if err := k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return 0
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	ready := 0
	for _, th := range list.Items {
		if want[th.Name] && meta.IsStatusConditionTrue(th.Status.Conditions, v1.ConditionReady) {
			ready++
		}
	}
	return ready
}

// busiestMinute is the most calls in any sliding 60 s window.
func busiestMinute(calls []oktasim.Call) int {
	best, lo := 0, 0
	for hi := range calls {
		for calls[hi].Time.Sub(calls[lo].Time) >= time.Minute {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func waitUntil(ctx context.Context, timeout time.Duration, done func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	last := time.Now()
	for {
		ok, status := done()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s: %s", timeout, status)
		}
		if time.Since(last) > 10*time.Second {
			step(status)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// reconciles reads controller_runtime_reconcile_total for the controller.
func reconciles(addr string) int {
	return int(metricSum(addr, `controller_runtime_reconcile_total{controller="tokenhook"`))
}

// kubeRequests reads the manager's Kubernetes API requests (client-go's
// rest_client_requests_total) and the time they waited in its client-side
// rate limiter; -1 when the metrics cannot be read.
func kubeRequests(addr string) (requests int, throttled time.Duration) {
	return int(metricSum(addr, "rest_client_requests_total{")),
		time.Duration(metricSum(addr, "rest_client_rate_limiter_duration_seconds_sum") * float64(time.Second))
}

// metricSum adds up the samples of the manager's metrics whose line starts
// with prefix (a name, or a name and the start of its labels).
func metricSum(addr, prefix string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		total += v
	}
	return total
}

// procUsage reads a process's CPU time and peak resident memory.
func procUsage(pid int) (time.Duration, int64) {
	var cpu time.Duration
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name, which is in parentheses.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		cpu = time.Duration(utime+stime) * time.Second / 100 // USER_HZ
	}
	var peak int64
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
				peak = kb * 1024
			}
		}
	}
	return cpu, peak
}

func printResults(rs []result) {
	fmt.Printf("\n%-6s %-5s %-22s %-11s %-12s %-10s %-11s %-14s %-10s %-9s %-13s %-13s %-22s\n",
		"hooks", "orgs", "to Ready (floor, x)", "reads/hook", "writes/hook", "429s", "reconciles", "busiest min", "mgr CPU", "peak RSS",
		"steady r/h/h", "steady w/h/h", "cleanup (floor, x)")
	for _, r := range rs {
		fmt.Printf("%-6d %-5d %-22s %-11.2f %-12.2f %-10s %-11d %-14s %-10s %-9s %-13.1f %-13.1f %-22s\n",
			r.n, r.orgs, vsFloor(r.ready, r.readyFloor), float64(r.reads)/float64(r.n), float64(r.writes)/float64(r.n),
			fmt.Sprintf("%d (%d)", r.tooMany, r.othersTooMany), r.reconciles, fmt.Sprintf("%d/min/org", r.maxOrgCallsPerMinute),
			r.cpu.Round(10*time.Millisecond), fmt.Sprintf("%dMiB", r.peakRSS>>20), r.steadyReadsPerHookHour, r.steadyWritesPerHookHour,
			vsFloor(r.cleanup, r.cleanupFloor))
	}
	fmt.Println("\nfloor: the busiest org's calls (as made, 429s included) over the calls a minute left to the operator there " +
		"(its budget; in the first org at most what its other clients leave), less the budget's burst.\n" +
		"429s: to the operator (to the first org's other clients).")
	for _, r := range rs {
		var kinds []string
		for k, v := range r.createCalls {
			kinds = append(kinds, fmt.Sprintf("%s %.2f", k, float64(v)/float64(r.n)))
		}
		slices.Sort(kinds)
		fmt.Printf("\ncalls per TokenHook to Ready (%d hooks): %s\n", r.n, strings.Join(kinds, "; "))
		fmt.Printf("Kubernetes API requests per TokenHook to Ready (%d hooks): %.1f, %.1f per reconcile; %s waited in the client-side rate limiter in all\n",
			r.n, float64(r.kubeRequests)/float64(r.n), float64(r.kubeRequests)/float64(max(r.reconciles, 1)), r.kubeThrottled.Round(time.Second))
	}
	for _, r := range rs {
		if r.pastCap != "" {
			fmt.Printf("\npast the cap (%d hooks): %s\n", r.n, r.pastCap)
		}
	}
	fmt.Println()
}

func vsFloor(took, floor time.Duration) string {
	if floor <= 0 {
		return took.Round(100*time.Millisecond).String() + " (-)"
	}
	return fmt.Sprintf("%s (%s, %.2fx)", took.Round(100*time.Millisecond), floor.Round(100*time.Millisecond), took.Seconds()/floor.Seconds())
}

// floor is the least time calls take at perMinute, after the burst of a
// budget of budget calls a minute (the manager's limiter allows budget/20 at once).
func floor(calls int, perMinute float64, budget int) time.Duration {
	calls -= max(1, budget/20)
	if calls <= 0 || perMinute <= 0 {
		return 0
	}
	return time.Duration(float64(calls) / perMinute * float64(time.Minute))
}

// otherPath is where the other clients of an org call: the operator never does.
const otherPath = "/api/v1/authorizationServers"

// operatorCalls leaves out the other clients' calls.
func operatorCalls(calls []oktasim.Call) []oktasim.Call {
	var out []oktasim.Call
	for _, c := range calls {
		if c.Path != otherPath {
			out = append(out, c)
		}
	}
	return out
}

// otherTraffic is an org's other clients: perMinute calls a minute, evenly spread.
type otherTraffic struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newOtherTraffic(srv *oktasim.Server, perMinute float64) *otherTraffic {
	ctx, cancel := context.WithCancel(context.Background())
	t := &otherTraffic{cancel: cancel, done: make(chan struct{})}
	if perMinute <= 0 {
		close(t.done)
		return t
	}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(time.Duration(float64(time.Minute) / perMinute))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+otherPath, nil)
			req.Header.Set("Authorization", "SSWS "+simToken)
			if resp, err := srv.Client.Do(req); err == nil {
				_ = resp.Body.Close()
			}
		}
	}()
	return t
}

func (t *otherTraffic) stop() {
	t.cancel()
	<-t.done
}

// okCalls counts the other clients' calls that Okta did not refuse with 429.
func (t *otherTraffic) okCalls(calls []oktasim.Call) int {
	n := 0
	for _, c := range calls {
		if c.Path == otherPath && c.Status != http.StatusTooManyRequests {
			n++
		}
	}
	return n
}

func step(msg string) { fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), msg) }

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

func numCPU() int {
	n := 0
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(data), "processor\t:")
	}
	return n
}

// startFakeDeployments reports hook server Deployments available, as
// kube-controller-manager and kubelet would: envtest runs no pods.
func startFakeDeployments(ctx context.Context, cfg *rest.Config) error {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: testenv.Scheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return err
	}
	if err := testenv.AddDeploymentStandIn(mgr, nil); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
			step("fake deployment controller: " + err.Error())
		}
	}()
	return nil
}

// startProfiles takes 30 s CPU profiles of the manager (its pprof endpoint)
// and of the API server (its /debug/pprof, as the admin) into profileDir;
// the returned func waits for both.
func startProfiles(ctx context.Context, restConfig *rest.Config, managerPprof string, n int) func() {
	const seconds = 30
	done := make(chan struct{}, 2)
	save := func(name string, fetch func() ([]byte, error)) {
		defer func() { done <- struct{}{} }()
		b, err := fetch()
		if err == nil {
			err = os.WriteFile(filepath.Join(profileDir, name), b, 0o644)
		}
		if err != nil {
			step(fmt.Sprintf("profile %s: %v", name, err))
		}
	}
	go save(fmt.Sprintf("manager-%d.pprof", n), func() ([]byte, error) {
		// The manager has only just been started.
		for i := 0; i < 100; i++ {
			if c, err := net.Dial("tcp", managerPprof); err == nil {
				_ = c.Close()
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", managerPprof, seconds))
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		return io.ReadAll(resp.Body)
	})
	go save(fmt.Sprintf("apiserver-%d.pprof", n), func() ([]byte, error) {
		cs, err := kubernetes.NewForConfig(restConfig)
		if err != nil {
			return nil, err
		}
		return cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", strconv.Itoa(seconds)).Timeout((seconds + 30) * time.Second).DoRaw(ctx)
	})
	return func() { <-done; <-done }
}

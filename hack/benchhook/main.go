// Command benchhook is the hook server's load benchmark, on loopback.
//
// It builds and starts the real hook server (cmd/hookserver) and, beside it, a
// trivial net/http server that answers a fixed 150-byte JSON, each as its own
// process so their CPU time and peak RSS can be read from /proc. A closed-loop
// load generator (keep-alive connections, each sending its next request when
// the previous answer arrives) sends realistic ~3 KB Okta events, half of them
// from patients, at several connection counts and list sizes, records every
// latency for exact percentiles, and then measures a reload of the largest list
// under load. With -oauth (the default), a hook server with --auth-mode=oauth
// runs too, at the smallest list size, called with a bearer token signed by a
// JWKS served over HTTPS from this process, as Okta calls an OAUTH channel. It
// prints the issues' targets next to the measured values.
//
//	go run ./hack/benchhook [-duration 2s] [-conns 1,16,64] [-sizes 1000,100000] [-oauth=false]
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tokenhook/tokenhook/hookserver/volumetest"
)

const (
	defaultSecret = "Basic YWRtaW46c3VwZXJzZWNyZXQ="
	canaryLogin   = "reload.canary@example.org"
)

type options struct {
	duration, warmup       time.Duration
	rounds                 int
	conns, sizes           []int
	events                 int
	reloadConns            int
	reloadDuration         time.Duration
	logLevel               string
	keep                   bool
	serveTrivial, goBinary string
	hookBinary             string
	baseline               string // git revision to build the baseline hook server from
	baselineBinary         string
	tls                    bool
	oauth                  bool
	secretBytes            int
	trivialCert            string // internal: the trivial server's certificate and key files
}

func main() {
	os.Exit(benchMain())
}

// benchMain runs the benchmark and returns the exit code: 3 if a target is missed.
func benchMain() int {
	var o options
	var conns, sizes string
	flag.DurationVar(&o.duration, "duration", time.Second, "measured time of each phase")
	flag.DurationVar(&o.warmup, "warmup", 200*time.Millisecond, "unmeasured load before each phase")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds of every phase, interleaved across servers; the median round (by req/s) is reported, which discounts bursts of load from other processes")
	flag.StringVar(&conns, "conns", "1,16,64", "connection counts")
	flag.StringVar(&sizes, "sizes", "1000,100000", "patient list sizes; the largest is also reloaded under load")
	flag.IntVar(&o.events, "events", 512, "distinct events sent in turn (half from patients)")
	flag.IntVar(&o.reloadConns, "reload-conns", 16, "connections during the reload test")
	flag.DurationVar(&o.reloadDuration, "reload-duration", 3*time.Second, "measured time of the reload test; the list is swapped a third of the way in")
	flag.StringVar(&o.logLevel, "log-level", "info", "hook server --log-level (info logs one line per call)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (server logs, lists)")
	flag.BoolVar(&o.tls, "tls", false, "serve and load over TLS 1.3 (ECDSA P-256), as with spec.hookServer.tls; the trivial server too")
	flag.IntVar(&o.secretBytes, "secret-bytes", 0, "pad the shared secret to this length, e.g. a bearer token's, to tell the cost of a long Authorization header from that of checking a token (0: a 30-byte Basic secret)")
	flag.BoolVar(&o.oauth, "oauth", true, "also run a hook server with --auth-mode=oauth at the smallest list size, called with a bearer token (cached by the server after its first call)")
	flag.StringVar(&o.serveTrivial, "serve-trivial", "", "internal: serve the trivial server on this address")
	flag.StringVar(&o.trivialCert, "serve-trivial-tls", "", "internal: the trivial server's certificate and key files, comma-separated")
	flag.StringVar(&o.goBinary, "go", "go", "go command used to build the hook server")
	flag.StringVar(&o.hookBinary, "hook-binary", "", "run this hook server binary instead of building cmd/hookserver (e.g. one built with profiling)")
	flag.StringVar(&o.baseline, "baseline", "", "also run cmd/hookserver as of this git `revision` (e.g. b2a77dc^, before issue 15 moved the JSON readers to jsontext) at the smallest list size, and judge CPU/call against it, paired")
	flag.StringVar(&o.baselineBinary, "baseline-binary", "", "like -baseline, with a hook server binary built already")
	flag.Parse()
	if o.serveTrivial != "" {
		if err := serveTrivial(o.serveTrivial, o.trivialCert); err != nil {
			fmt.Fprintln(os.Stderr, "trivial server:", err)
			return 1
		}
		return 0
	}
	var err error
	if o.conns, err = intList(conns); err == nil {
		o.sizes, err = intList(sizes)
	}
	if err == nil && o.rounds < 1 {
		err = errors.New("-rounds must be at least 1")
	}
	if err == nil && o.baseline != "" && o.baselineBinary != "" {
		err = errors.New("-baseline and -baseline-binary exclude each other")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchhook:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	passed, err := run(ctx, o)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchhook:", err)
		return 1
	case !passed:
		return 3
	}
	return 0
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("invalid list %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// Row names of the servers.
const (
	nameTrivial = "trivial"
	nameHeader  = "hookserver" // shared secret auth
	nameOAuth   = "hook-oauth" // bearer token auth
	nameBase    = "baseline"   // -baseline's hook server, shared secret auth
)

type row struct {
	server   string
	patients int
	conns    int
	p        *phase   // the median round
	rounds   []*phase // in the order run, paired across servers
}

func run(ctx context.Context, o options) (bool, error) {
	work, err := os.MkdirTemp("", "benchhook-")
	if err != nil {
		return false, err
	}
	if o.keep {
		fmt.Println("work directory:", work)
	} else {
		defer func() { _ = os.RemoveAll(work) }()
	}

	root, err := moduleRoot(ctx, o.goBinary)
	if err != nil {
		return false, err
	}
	hookBin := o.hookBinary
	if hookBin == "" {
		fmt.Println("Building cmd/hookserver ...")
		hookBin = filepath.Join(work, "hookserver")
		if err := buildHookServer(ctx, o.goBinary, root, hookBin); err != nil {
			return false, err
		}
	}
	baseBin := o.baselineBinary
	if o.baseline != "" {
		fmt.Printf("Building cmd/hookserver as of %s (the baseline) ...\n", o.baseline)
		if baseBin, err = buildRevision(ctx, o.goBinary, root, o.baseline, work); err != nil {
			return false, err
		}
	}
	secret := defaultSecret
	if o.secretBytes > len(secret) {
		secret = "Bearer " + strings.Repeat("s", o.secretBytes-len("Bearer "))
		fmt.Printf("Shared secret: %d bytes.\n", len(secret))
	}
	secretFile := filepath.Join(work, "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		return false, err
	}

	self, err := os.Executable()
	if err != nil {
		return false, err
	}
	// With -tls, every server gets the same certificate and every
	// connection does one full handshake, then keeps alive.
	scheme, trivialArgs, hookTLSArgs := "http", []string(nil), []string(nil)
	var clientTLS *tls.Config
	if o.tls {
		certFile, keyFile, err := writeCertificate(work)
		if err != nil {
			return false, err
		}
		scheme = "https"
		trivialArgs = []string{"-serve-trivial-tls", certFile + "," + keyFile}
		hookTLSArgs = []string{"--tls-cert", certFile, "--tls-key", keyFile}
		clientTLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} //nolint:gosec // a throwaway loopback certificate
		fmt.Println("TLS: on (TLS 1.3, ECDSA P-256; one handshake per keep-alive connection)")
	}
	trivialAddr, err := freeAddr()
	if err != nil {
		return false, err
	}
	trivial, err := start(ctx, "trivial", trivialAddr, scheme+"://"+trivialAddr+"/", filepath.Join(work, "trivial.log"),
		append([]string{self, "-serve-trivial", trivialAddr}, trivialArgs...)...)
	if err != nil {
		return false, err
	}
	trivial.tls = clientTLS
	defer trivial.stop()

	hooks := make([]*server, len(o.sizes))
	hookReqs := make([][]request, len(o.sizes))
	hookNames := make([]string, len(o.sizes)) // row names, by hook server
	hookSizes := slices.Clone(o.sizes)
	for i := range hookNames {
		hookNames[i] = nameHeader
	}
	var trivialReqs []request
	var avgBody int
	for i, n := range o.sizes {
		volume := filepath.Join(work, fmt.Sprintf("patients-%d", n))
		if err := os.Mkdir(volume, 0o755); err != nil {
			return false, err
		}
		if err := volumetest.Write(volume, map[string][]byte{"patients.csv": patientsCSV(n, "v1")}); err != nil {
			return false, err
		}
		addr, err := freeAddr()
		if err != nil {
			return false, err
		}
		metricsAddr, err := freeAddr()
		if err != nil {
			return false, err
		}
		fmt.Printf("Starting the hook server with %d patients ...\n", n)
		hooks[i], err = start(ctx, fmt.Sprintf("hookserver-%d", n), addr, scheme+"://"+addr+"/readyz",
			filepath.Join(work, fmt.Sprintf("hookserver-%d.log", n)),
			append([]string{hookBin, "--listen", addr, "--metrics-listen", metricsAddr,
				"--patients", filepath.Join(volume, "patients.csv"), "--auth-secret-file", secretFile,
				"--tokens", "id,access", "--log-level", o.logLevel, "--shutdown-delay", "0"}, hookTLSArgs...)...)
		if err != nil {
			return false, err
		}
		hooks[i].tls = clientTLS
		defer hooks[i].stop()
		var tr []request
		hookReqs[i], tr, avgBody = hookRequests(o.events, n, addr, trivialAddr, secret)
		if trivialReqs == nil {
			trivialReqs = tr
		}
	}
	var iss *issuer
	if o.oauth {
		if iss, err = startIssuer(work); err != nil {
			return false, fmt.Errorf("JWKS server: %w", err)
		}
		defer iss.stop()
		token, err := iss.token()
		if err != nil {
			return false, err
		}
		n := o.sizes[0]
		addr, err := freeAddr()
		if err != nil {
			return false, err
		}
		metricsAddr, err := freeAddr()
		if err != nil {
			return false, err
		}
		fmt.Printf("Starting the hook server with %d patients and OAuth bearer token auth (%d-byte token) ...\n", n, len(token))
		srv, err := start(ctx, fmt.Sprintf("hookserver-oauth-%d", n), addr, scheme+"://"+addr+"/readyz",
			filepath.Join(work, fmt.Sprintf("hookserver-oauth-%d.log", n)),
			append(append([]string{hookBin, "--listen", addr, "--metrics-listen", metricsAddr,
				"--patients", filepath.Join(work, fmt.Sprintf("patients-%d", n), "patients.csv"),
				"--tokens", "id,access", "--log-level", o.logLevel, "--shutdown-delay", "0"}, iss.args()...), hookTLSArgs...)...)
		if err != nil {
			return false, err
		}
		srv.tls = clientTLS
		defer srv.stop()
		reqs, _, _ := hookRequests(o.events, n, addr, trivialAddr, "Bearer "+token)
		hooks, hookReqs = append(hooks, srv), append(hookReqs, reqs)
		hookNames, hookSizes = append(hookNames, nameOAuth), append(hookSizes, n)
	}
	if baseBin != "" {
		n := o.sizes[0]
		addr, err := freeAddr()
		if err != nil {
			return false, err
		}
		metricsAddr, err := freeAddr()
		if err != nil {
			return false, err
		}
		fmt.Printf("Starting the baseline hook server with %d patients ...\n", n)
		srv, err := start(ctx, fmt.Sprintf("baseline-%d", n), addr, scheme+"://"+addr+"/readyz",
			filepath.Join(work, fmt.Sprintf("baseline-%d.log", n)),
			append([]string{baseBin, "--listen", addr, "--metrics-listen", metricsAddr,
				"--patients", filepath.Join(work, fmt.Sprintf("patients-%d", n), "patients.csv"), "--auth-secret-file", secretFile,
				"--tokens", "id,access", "--log-level", o.logLevel, "--shutdown-delay", "0"}, hookTLSArgs...)...)
		if err != nil {
			return false, err
		}
		srv.tls = clientTLS
		defer srv.stop()
		reqs, _, _ := hookRequests(o.events, n, addr, trivialAddr, secret)
		hooks, hookReqs = append(hooks, srv), append(hookReqs, reqs)
		hookNames, hookSizes = append(hookNames, nameBase), append(hookSizes, n)
	}
	fmt.Printf("Events: %d distinct, %d bytes on average, half from patients; hook answers 200 with commands for both tokens, or 204.\n",
		o.events, avgBody)
	fmt.Printf("Each phase: %v warm-up, then %v measured, %d rounds; the median round is shown, its failures being the sum over rounds.\n"+
		"GOMAXPROCS of every process: all %d CPUs, shared by the servers and the load generator.\n\n",
		o.warmup, o.duration, o.rounds, runtime.NumCPU())

	const rowFormat = "%-10s %8s %5s %8s %8s %8s %8s %9s %9s %6s\n"
	fmt.Printf(rowFormat, "server", "patients", "conns", "req/s", "p50", "p99", "p99.9", "CPU/call", "peak RSS", "failed")
	var rows []row
	for _, c := range o.conns {
		// Rounds alternate between servers, so that a burst of load from
		// elsewhere on the machine hits them alike, and every other round
		// runs them in reverse order: a server always run right after
		// another measured up to 3% off its own copy.
		rounds := make([][]*phase, len(hooks)+1)
		for round := range o.rounds {
			for _, i := range roundOrder(len(hooks), round) {
				if err := ctx.Err(); err != nil {
					return false, err
				}
				srv, reqs := trivial, trivialReqs
				if i >= 0 {
					srv, reqs = hooks[i], hookReqs[i]
				}
				p, err := load(srv, reqs, c, o.warmup, o.duration, nil)
				if err != nil {
					return false, err
				}
				rounds[i+1] = append(rounds[i+1], p)
			}
		}
		for i := -1; i < len(hooks); i++ {
			name, n, patients := nameTrivial, 0, "-"
			if i >= 0 {
				name, n = hookNames[i], hookSizes[i]
				patients = strconv.Itoa(n)
			}
			p := median(rounds[i+1])
			rows = append(rows, row{name, n, c, p, rounds[i+1]})
			fmt.Printf(rowFormat, name, patients, strconv.Itoa(c), fmt.Sprintf("%.0f", p.reqPerSec()),
				ms(p.percentile(0.50)), ms(p.percentile(0.99)), ms(p.percentile(0.999)),
				us(p.cpuPerCall()), mib(p.peakRSS), strconv.Itoa(p.failed))
			if p.failed > 0 {
				fmt.Printf("  first failure: %s\n", p.firstFailure)
			}
		}
	}

	// Reload the largest list under load.
	largest := len(o.sizes) - 1
	n := o.sizes[largest]
	fmt.Printf("\nReload under load: %d connections on the %d-patient server; a third of the way in, kubelet-style swap of a new %d-patient list.\n",
		o.reloadConns, n, n+1)
	newList := patientsCSV(n, "v2", canaryLogin)
	probe := &worker{addr: hooks[largest].addr, tls: hooks[largest].tls, reqs: []request{
		renderRequest(hooks[largest].addr, "/tokenHook", secret, okEvent(newRand(), canaryLogin, 0), 204, 200),
	}}
	var reloadTook time.Duration
	var reloadErr error
	p, err := load(hooks[largest], hookReqs[largest], o.reloadConns, o.warmup, o.reloadDuration, func(measureStart time.Time) {
		time.Sleep(time.Until(measureStart.Add(o.reloadDuration / 3)))
		volume := filepath.Join(work, fmt.Sprintf("patients-%d", n))
		t0 := time.Now()
		if err := volumetest.Write(volume, map[string][]byte{"patients.csv": newList}); err != nil {
			reloadErr = err
			return
		}
		for time.Since(t0) < 10*time.Second {
			status, err := probe.call()
			probe.calls++
			if err != nil {
				probe.fail(err.Error())
			}
			if status == 200 {
				reloadTook = time.Since(t0)
				return
			}
			time.Sleep(time.Millisecond)
		}
		reloadErr = errors.New("the new list never served")
	})
	if err != nil {
		return false, err
	}
	if reloadErr != nil {
		return false, reloadErr
	}
	failedDuringReload := p.failed + probe.failed
	fmt.Printf("  new list serving %s after the swap began (write of the new files included); %d calls, %.0f req/s, p99 %s, failed %d; peak RSS %s\n",
		ms(reloadTook), p.calls+probe.calls, p.reqPerSec(), ms(p.percentile(0.99)), failedDuringReload, mib(p.peakRSS))
	if p.firstFailure != "" || probe.failure != "" {
		fmt.Printf("  first failure: %s%s\n", p.firstFailure, probe.failure)
	}

	if iss != nil {
		fmt.Printf("\nOAuth: the JWKS was fetched %d time(s) over the whole run (at start; every call after the first hits the token cache).\n",
			iss.fetches.Load())
	}
	return report(o, rows, reloadTook, failedDuringReload, p.peakRSS), nil
}

// report prints the targets against the measurements. Comparisons
// between servers are paired: each round of one server is set against the
// round of the other run just before or after it, and the median ratio is
// judged, which cancels most of the drift in load from other processes.
func report(o options, rows []row, reloadTook time.Duration, reloadFailed int, reloadRSS int64) bool {
	find := func(server string, patients, conns int) *row {
		for i, r := range rows {
			if r.server == server && r.patients == patients && r.conns == conns {
				return &rows[i]
			}
		}
		return nil
	}
	small, large := o.sizes[0], o.sizes[len(o.sizes)-1]
	fmt.Println("\nTargets (issue 3), as the median over rounds of the ratio between rounds run back to back:")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	all := true
	check := func(name, measured string, ok bool) {
		verdict := "PASS"
		if !ok {
			verdict, all = "FAIL", false
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", name, measured, verdict)
	}
	totalFailed := 0
	for _, r := range rows {
		totalFailed += r.p.failed
	}
	reqPerSec := func(p *phase) float64 { return p.reqPerSec() }
	cpuPerCall := func(p *phase) float64 { return float64(p.cpuPerCall()) }
	p99 := func(p *phase) float64 { return float64(p.percentile(0.99)) }
	if triv := find(nameTrivial, 0, 64); triv != nil {
		for _, n := range o.sizes {
			if h := find(nameHeader, n, 64); h != nil {
				ratio := pairedRatio(h, triv, reqPerSec)
				check(fmt.Sprintf("req/s at 64 conns, %d patients >= 70%% of trivial", n),
					fmt.Sprintf("%.0f%% (medians %.0f / %.0f)", 100*ratio, h.p.reqPerSec(), triv.p.reqPerSec()), ratio >= 0.70)
			}
		}
	}
	if small != large {
		for _, c := range o.conns {
			s, l := find(nameHeader, small, c), find(nameHeader, large, c)
			diff := pairedRatio(l, s, reqPerSec) - 1
			check(fmt.Sprintf("req/s at %d patients within 10%% of %d, %d conns", large, small, c),
				fmt.Sprintf("%+.1f%% (medians %.0f vs %.0f)", 100*diff, l.p.reqPerSec(), s.p.reqPerSec()), diff >= -0.10)
		}
	}
	if triv := find(nameTrivial, 0, 16); triv != nil {
		for _, n := range o.sizes {
			if h := find(nameHeader, n, 16); h != nil {
				ratio := pairedRatio(h, triv, p99)
				check(fmt.Sprintf("p99 at 16 conns, %d patients <= 2x trivial", n),
					fmt.Sprintf("%.2fx (medians %s vs %s)", ratio, ms(h.p.percentile(0.99)), ms(triv.p.percentile(0.99))),
					ratio <= 2)
			}
		}
	}
	check(fmt.Sprintf("peak RSS with %d patients (reload included) <= 64 MiB", large), mib(reloadRSS), reloadRSS <= 64<<20)
	check(fmt.Sprintf("reload of %d patients under load < 300 ms", large), ms(reloadTook), reloadTook < 300*time.Millisecond)
	check("failed calls during the reload = 0", strconv.Itoa(reloadFailed), reloadFailed == 0)
	check("failed calls in all phases = 0", strconv.Itoa(totalFailed), totalFailed == 0)
	_ = tw.Flush()
	if o.oauth {
		fmt.Println("\nTargets (issue 13), likewise paired:")
		for _, c := range o.conns {
			h, oa := find(nameHeader, small, c), find(nameOAuth, small, c)
			if h == nil || oa == nil {
				continue
			}
			diff := pairedRatio(oa, h, cpuPerCall) - 1
			check(fmt.Sprintf("CPU/call with OAuth within 10%% of header auth, %d patients, %d conns", small, c),
				fmt.Sprintf("%+.1f%% (medians %s vs %s)", 100*diff, us(oa.p.cpuPerCall()), us(h.p.cpuPerCall())), diff <= 0.10)
		}
		_ = tw.Flush()
	}
	fmt.Println("\nTargets (issue 15), likewise paired:")
	for _, c := range o.conns {
		h, triv, base := find(nameHeader, small, c), find(nameTrivial, 0, c), find(nameBase, small, c)
		if base != nil {
			ratios := pairedRatios(h, base, cpuPerCall)
			diff := ratios[len(ratios)/2] - 1
			check(fmt.Sprintf("CPU/call within 5%% of the baseline, %d patients, %d conns", small, c),
				fmt.Sprintf("%+.1f%% (quartiles %+.1f%% to %+.1f%%; medians %s vs %s)", 100*diff,
					100*(ratios[len(ratios)/4]-1), 100*(ratios[3*len(ratios)/4]-1), us(h.p.cpuPerCall()), us(base.p.cpuPerCall())), diff <= 0.05)
		}
		// A goal, not a gate.
		fmt.Fprintf(tw, "  CPU/call against the trivial server, %d patients, %d conns (goal <= 1.10x)\t%.2fx (medians %s vs %s)\t\n",
			small, c, pairedRatio(h, triv, cpuPerCall), us(h.p.cpuPerCall()), us(triv.p.cpuPerCall()))
	}
	_ = tw.Flush()
	return all
}

// roundOrder is the order of the servers in a round: the trivial one (-1),
// then the hook servers, reversed in odd rounds.
func roundOrder(hooks, round int) []int {
	order := make([]int, 0, hooks+1)
	for i := -1; i < hooks; i++ {
		order = append(order, i)
	}
	if round%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// pairedRatio is the median over rounds of metric(a's round) / metric(b's round).
func pairedRatio(a, b *row, metric func(*phase) float64) float64 {
	ratios := pairedRatios(a, b, metric)
	return ratios[len(ratios)/2]
}

// pairedRatios are the ratios metric(a's round) / metric(b's round), sorted.
func pairedRatios(a, b *row, metric func(*phase) float64) []float64 {
	ratios := make([]float64, len(a.rounds))
	for i := range a.rounds {
		ratios[i] = metric(a.rounds[i]) / metric(b.rounds[i])
	}
	slices.Sort(ratios)
	return ratios
}

// median returns the round with the median req/s, counting the failures of all rounds.
func median(rounds []*phase) *phase {
	sorted := slices.Clone(rounds)
	slices.SortFunc(sorted, func(a, b *phase) int { return cmp.Compare(a.reqPerSec(), b.reqPerSec()) })
	m := *sorted[len(sorted)/2]
	m.failed = 0
	for _, r := range rounds {
		m.failed += r.failed
		if m.firstFailure == "" {
			m.firstFailure = r.firstFailure
		}
	}
	return &m
}

// buildHookServer builds cmd/hookserver of the module in dir into out.
func buildHookServer(ctx context.Context, goBinary, dir, out string) error {
	build := exec.CommandContext(ctx, goBinary, "build", "-o", out, "./cmd/hookserver")
	build.Dir = dir
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build hook server in %s: %w\n%s", dir, err, b)
	}
	return nil
}

// buildRevision builds cmd/hookserver as of a git revision of the repository
// at root, from a copy made by git archive (the repository is not touched),
// and returns the binary's path.
func buildRevision(ctx context.Context, goBinary, root, rev, work string) (string, error) {
	src := filepath.Join(work, "baseline-src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", rev)
	extract := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", err
	}
	var archiveErr strings.Builder
	archive.Stderr = &archiveErr
	extract.Stdin = pipe
	if err := archive.Start(); err != nil {
		return "", fmt.Errorf("git archive %s: %w", rev, err)
	}
	out, extractErr := extract.CombinedOutput()
	if err := archive.Wait(); err != nil {
		return "", fmt.Errorf("git archive %s: %w: %s", rev, err, strings.TrimSpace(archiveErr.String()))
	}
	if extractErr != nil {
		return "", fmt.Errorf("extract %s: %w\n%s", rev, extractErr, out)
	}
	bin := filepath.Join(work, "hookserver-baseline")
	return bin, buildHookServer(ctx, goBinary, src, bin)
}

func moduleRoot(ctx context.Context, goBinary string) (string, error) {
	out, err := exec.CommandContext(ctx, goBinary, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run benchhook from inside the tokenhook module")
	}
	return filepath.Dir(gomod), nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/1e3) }
func mib(b int64) string        { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }

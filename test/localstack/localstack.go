// Package localstack runs the whole tokenhook scenario on one machine, with
// no cluster and no Okta org: the envtest control plane, the Okta simulator
// (or a real Okta org), the operator, and the hook servers its Deployments
// describe, run as local processes behind a TLS ingress. The end-to-end test
// and `make demo` both stand on it.
package localstack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/tokenhook/tokenhook/api/v1alpha1"
	"github.com/tokenhook/tokenhook/controllers"
	"github.com/tokenhook/tokenhook/internal/oktasim"
	"github.com/tokenhook/tokenhook/internal/podrunner"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// Options configure a stack.
type Options struct {
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// ProcessLog receives the hook servers' and the operator's logs; nil discards.
	ProcessLog io.Writer
	// OperatorVerbosity is the operator's log verbosity (logr V level) in
	// ProcessLog; 0 logs info and errors only.
	OperatorVerbosity int
	// OktaOrgURL and OktaAPIToken select a real Okta org instead of the
	// simulator.
	OktaOrgURL, OktaAPIToken string
	// DriftInterval of the operator; default 30s.
	DriftInterval time.Duration
	// ExternalURL, if set, is the public https URL that reaches the
	// ingress (needed with a real Okta org, which cannot call 127.0.0.1).
	ExternalURL string
}

// Stack is a running local scenario.
type Stack struct {
	Config *rest.Config
	Client client.Client
	// Sim is the simulated org, nil with a real one.
	Sim *oktasim.Sim
	// OrgURL is the Okta org, APIToken its credential.
	OrgURL, APIToken string
	// OktaHTTPClient trusts the org (the simulator's CA).
	OktaHTTPClient *http.Client
	// Ingress fronts the hook servers; Okta calls its URLs.
	Ingress *Ingress
	// Kubeconfig is an admin kubeconfig for kubectl.
	Kubeconfig []byte

	opts    Options
	oktaCA  []byte // the simulator's CA; nil with a real org
	env     *envtest.Environment
	simSrv  *oktasim.Server
	runner  *podrunner.Runner
	workDir string
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu   sync.Mutex
	pods map[types.NamespacedName]*podrunner.Deployment
}

// Start brings the stack up. Stop it when done.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.DriftInterval == 0 {
		opts.DriftInterval = 30 * time.Second
	}
	s := &Stack{opts: opts, pods: map[types.NamespacedName]*podrunner.Deployment{}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if s.workDir, err = os.MkdirTemp("", "tokenhook-local-"); err != nil {
		return nil, err
	}

	s.step("building the hook server")
	hookserver := filepath.Join(s.workDir, "hookserver")
	build := exec.CommandContext(ctx, "go", "build", "-o", hookserver, "./cmd/hookserver")
	build.Dir, build.Stderr = testenv.RepoRoot(), os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build hookserver: %w", err)
	}

	s.step("starting the local control plane (kube-apiserver, etcd)")
	if s.env, err = testenv.New(); err != nil {
		return nil, err
	}
	if s.Config, err = s.env.Start(); err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}
	if s.Client, err = client.New(s.Config, client.Options{Scheme: testenv.Scheme()}); err != nil {
		return nil, err
	}
	admin, err := s.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	if s.Kubeconfig, err = admin.KubeConfig(); err != nil {
		return nil, err
	}

	s.step("starting the hook ingress (TLS)")
	if s.Ingress, err = startIngress(); err != nil {
		return nil, err
	}

	if opts.OktaOrgURL != "" {
		s.step("using the Okta org " + opts.OktaOrgURL)
		s.OrgURL, s.APIToken, s.OktaHTTPClient = opts.OktaOrgURL, opts.OktaAPIToken, http.DefaultClient
	} else {
		s.step("starting the Okta simulator")
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(s.Ingress.CACertPEM)
		hookClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		s.APIToken = randomToken()
		s.Sim = oktasim.New(oktasim.Options{Token: s.APIToken, HookClient: hookClient})
		if s.simSrv, err = s.Sim.StartTLS(); err != nil {
			return nil, err
		}
		s.OrgURL, s.OktaHTTPClient, s.oktaCA = s.simSrv.URL, s.simSrv.Client, s.simSrv.CACertPEM
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.step("starting the operator")
	if err := s.startOperator(runCtx); err != nil {
		return nil, err
	}
	s.runner = &podrunner.Runner{
		Client:   s.Client,
		Binaries: map[string]string{"/hookserver": hookserver},
		Dir:      s.workDir,
		Log:      opts.ProcessLog,
	}
	s.wg.Add(1)
	go s.kubelet(runCtx)
	return s, nil
}

// Stop tears everything down.
func (s *Stack) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.mu.Lock()
	for _, d := range s.pods {
		d.Stop()
	}
	s.mu.Unlock()
	if s.Ingress != nil {
		_ = s.Ingress.Close()
	}
	if s.simSrv != nil {
		_ = s.simSrv.Close()
	}
	if s.env != nil {
		_ = s.env.Stop()
	}
	if s.workDir != "" {
		_ = os.RemoveAll(s.workDir)
	}
}

// HookURL is the externalURL for a TokenHook: its own path on the ingress.
func (s *Stack) HookURL(namespace, name string) string {
	if s.opts.ExternalURL != "" {
		return s.opts.ExternalURL
	}
	return s.Ingress.URL + "/" + namespace + "/" + name + "/tokenHook"
}

// Pods returns the running hook server Deployment of a TokenHook, if any.
func (s *Stack) Pods(namespace, tokenHook string) *podrunner.Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pods[types.NamespacedName{Namespace: namespace, Name: tokenHook + "-hookserver"}]
}

func (s *Stack) startOperator(ctx context.Context) error {
	if s.opts.ProcessLog != nil {
		ctrl.SetLogger(zap.New(zap.WriteTo(s.opts.ProcessLog), zap.Level(zapcore.Level(-s.opts.OperatorVerbosity))))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	mgr, err := ctrl.NewManager(s.Config, ctrl.Options{
		Scheme:  testenv.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		// A process may run more than one stack (tests run with -count).
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return err
	}
	r := controllers.NewTokenHookReconciler(mgr, controllers.Options{
		HookServerImage: "tokenhook:local",
		DriftInterval:   s.opts.DriftInterval,
		RotationGrace:   5 * time.Second,
		OktaHTTPClient:  s.OktaHTTPClient,
		// As the manager's --okta-ca-file: with OAuth hook auth, the hook
		// server pods fetch the simulator's signing keys trusting it.
		OktaCABundle: s.oktaCA,
	})
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := mgr.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.step("operator stopped: " + err.Error())
		}
	}()
	return nil
}

// kubelet runs the hook server Deployments as local processes and routes
// each TokenHook's externalURL path to them, as the user's Ingress would.
func (s *Stack) kubelet(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var list appsv1.DeploymentList
		if err := s.Client.List(ctx, &list, client.MatchingLabels{"app.kubernetes.io/name": "tokenhook-hookserver"}); err != nil {
			continue
		}
		seen := map[types.NamespacedName]bool{}
		for i := range list.Items {
			dep := &list.Items[i]
			key := client.ObjectKeyFromObject(dep)
			seen[key] = true
			s.mu.Lock()
			_, running := s.pods[key]
			s.mu.Unlock()
			if running || !dep.DeletionTimestamp.IsZero() {
				continue
			}
			d, err := s.runner.Start(ctx, key)
			if err != nil {
				s.step("cannot run " + key.String() + ": " + err.Error())
				continue
			}
			s.mu.Lock()
			s.pods[key] = d
			s.mu.Unlock()
			if path := s.externalPath(ctx, dep); path != "" {
				s.Ingress.Route(path, func() []string { return backendURLs(d) })
			}
		}
		s.mu.Lock()
		for key, d := range s.pods {
			if !seen[key] {
				d.Stop()
				delete(s.pods, key)
			}
		}
		s.mu.Unlock()
	}
}

// backendURLs are the running replicas' serving ports: "http", or "https"
// when the TokenHook asks for TLS (the pods then roll over to it).
func backendURLs(d *podrunner.Deployment) []string {
	var urls []string
	for _, a := range d.Addrs("http") {
		urls = append(urls, "http://"+a)
	}
	for _, a := range d.Addrs("https") {
		urls = append(urls, "https://"+a)
	}
	return urls
}

// externalPath is the URL path of the TokenHook that owns a Deployment.
func (s *Stack) externalPath(ctx context.Context, dep *appsv1.Deployment) string {
	for _, ref := range dep.OwnerReferences {
		if ref.Kind != "TokenHook" {
			continue
		}
		th := &v1.TokenHook{}
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: dep.Namespace, Name: ref.Name}, th); err != nil {
			return ""
		}
		u, err := url.Parse(th.Spec.HookServer.ExternalURL)
		if err != nil {
			return ""
		}
		return u.Path
	}
	return ""
}

func (s *Stack) step(msg string) {
	if s.opts.Progress != nil {
		fmt.Fprintf(s.opts.Progress, "[%s] %s\n", time.Now().Format("15:04:05"), msg)
	}
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

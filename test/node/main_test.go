// Package node tests tokenhook the way users run it: `helm install` of the
// chart, with the project's image, on a real node (kubelet, containerd,
// kube-proxy; internal/realnode), with the Okta simulator on the host
// calling the hook servers through their Service.
//
// Run it with `make test-node` (root; it installs Debian's containerd, runc,
// CNI plugins and iptables when missing). Without root it skips, unless CI
// is set, when it fails.
package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tokenhook/tokenhook/internal/oktasim"
	"github.com/tokenhook/tokenhook/internal/realnode"
	"github.com/tokenhook/tokenhook/internal/selfsigned"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/test/localstack"
)

// The image the chart installs: `make image-tarball` names it tokenhook:dev,
// which containerd stores as docker.io/library/tokenhook:dev.
const (
	imageRepository = "tokenhook"
	imageTag        = "dev"
	// hookDomain names the hook servers: <tokenhook>.<namespace>.<hookDomain>
	// is the Service <tokenhook>-hookserver in <namespace>, as a cluster's
	// ingress or DNS would route it; the simulator resolves it itself.
	hookDomain = "tokenhook.test"
)

var (
	node          *realnode.Node
	k8s           client.Client
	sim           *oktasim.Sim
	simSrv        *oktasim.Server
	apiToken      = "node-test-" + fmt.Sprint(time.Now().UnixNano())
	kubectl, helm string
	repo          = testenv.RepoRoot()
	// pluginDir holds kubectl-tokenhook, built from this tree as `make
	// kubectl-tokenhook` builds it: on the PATH, kubectl finds it.
	pluginDir string

	// hookCert is the hook servers' TLS certificate, for hookHosts.
	hookCert  selfsigned.Cert
	hookHosts = []string{hookHost("patient-id", "clinic")}
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if why := realnode.Requirements(); why != "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "FAIL: CI is set, so the real-node tests must run: %s\n", why)
			return 1
		}
		fmt.Printf("skip: %s; run them as root with 'make test-node'\n", why)
		return 0
	}
	if err := setUp(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: real node: %v\n", err)
		tearDown()
		return 1
	}
	// An interrupted run still tears the node down.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		tearDown()
		os.Exit(1)
	}()
	code := m.Run()
	if code != 0 && node != nil {
		for _, c := range []string{"kubelet", "kube-proxy", "containerd"} {
			fmt.Fprintf(os.Stderr, "---- %s (last lines)\n%s\n", c, node.LogTail(c, 20))
		}
	}
	tearDown()
	return code
}

var tearDownOnce sync.Once

func tearDown() {
	tearDownOnce.Do(func() {
		if simSrv != nil {
			_ = simSrv.Close()
		}
		if node != nil {
			if err := node.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "real node teardown: %v\n", err)
			}
		}
		if pluginDir != "" {
			_ = os.RemoveAll(pluginDir)
		}
	})
}

func setUp() error {
	ctx := context.Background()
	if helm = os.Getenv("HELM"); helm == "" {
		return fmt.Errorf("HELM is not set: run 'make test-node', or set HELM to a helm binary ('make helm')")
	}
	out, err := exec.Command(filepath.Join(repo, "hack/node/binaries.sh")).Output()
	if err != nil {
		return fmt.Errorf("hack/node/binaries.sh: %w", err)
	}
	bin := strings.TrimSpace(string(out))
	kubectl = filepath.Join(bin, "kubectl")
	if err := buildPlugin(); err != nil {
		return err
	}
	image := os.Getenv("TOKENHOOK_IMAGE_TARBALL")
	if image == "" {
		return fmt.Errorf("TOKENHOOK_IMAGE_TARBALL is not set: run 'make test-node' (it builds the image with 'make image-tarball')")
	}
	if node, err = realnode.Start(ctx, realnode.Options{Bin: bin, Images: []string{image}, Progress: os.Stderr}); err != nil {
		return err
	}
	if k8s, err = client.New(node.Config, client.Options{Scheme: testenv.Scheme()}); err != nil {
		return err
	}
	// One certificate serves every hook server in these tests (the names
	// below); it is its own CA, and the simulator trusts only it.
	if hookCert, err = selfsigned.New(selfsigned.Options{Hosts: hookHosts, CA: true, NotAfter: time.Now().Add(24 * time.Hour)}); err != nil {
		return err
	}
	hookTrust := x509.NewCertPool()
	hookTrust.AppendCertsFromPEM(hookCert.CertPEM)
	// The simulated org listens on the node's address, where the operator
	// pod reaches it; it calls hooks at their external URLs, which the
	// cluster's "ingress" (resolveHook) maps to Services.
	sim = oktasim.New(oktasim.Options{Token: apiToken, HookClient: &http.Client{Transport: &http.Transport{
		DialContext:     resolveHook,
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: hookTrust},
	}}})
	if simSrv, err = sim.Listen(net.JoinHostPort(realnode.NodeIP, "0"), true); err != nil {
		return err
	}
	return nil
}

// buildPlugin builds the kubectl plugin into pluginDir, once, before the
// node starts, so that its step times the plugin and not the compiler.
func buildPlugin() error {
	dir, err := os.MkdirTemp("", "tokenhook-plugin-")
	if err != nil {
		return err
	}
	pluginDir = dir
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "kubectl-tokenhook"), "./cmd/kubectl-tokenhook")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/kubectl-tokenhook: %w\n%s", err, out)
	}
	return nil
}

// resolveHook dials <tokenhook>.<namespace>.tokenhook.test:443 at the
// ClusterIP of that TokenHook's Service: through kube-proxy's rules, as an
// ingress controller on the node would.
func resolveHook(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	name, ns, ok := strings.Cut(strings.TrimSuffix(host, "."+hookDomain), ".")
	if !ok || !strings.HasSuffix(host, "."+hookDomain) {
		return nil, fmt.Errorf("no route to %s: only *.%s is served here", host, hookDomain)
	}
	svc := &corev1.Service{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name + "-hookserver"}, svc); err != nil {
		return nil, fmt.Errorf("route %s: %w", host, err)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(svc.Spec.ClusterIP, port))
}

// org is the simulator as a test client signs in to it.
func org() *localstack.Stack {
	return &localstack.Stack{OrgURL: simSrv.URL, OktaHTTPClient: simSrv.Client}
}

func hookHost(name, namespace string) string { return name + "." + namespace + "." + hookDomain }

func hookURL(name, namespace string) string {
	return "https://" + hookHost(name, namespace) + "/tokenHook"
}

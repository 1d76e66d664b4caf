// Package realnode runs a real single-node Kubernetes cluster on this
// machine, the way Kubernetes' hack/local-up-cluster.sh does: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
// kube-proxy (v1.37, built from the Go module proxy), with Debian's
// containerd, runc and CNI plugins. Nothing can be pulled, so images are
// imported into containerd (a locally built pause image among them).
//
// Everything it changes on the machine is written down first in a ledger in
// its state folder; Teardown undoes exactly that, also from another process
// after a crash (go run ./hack/node down).
package realnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options configure a node.
type Options struct {
	// Bin holds etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler, kubelet, kube-proxy and kubectl (hack/node/binaries.sh).
	Bin string
	// StateDir is the node's folder; default /var/lib/tokenhook-node.
	StateDir string
	// Images are image archives (OCI or Docker) to import into containerd.
	Images []string
	// Progress gets one line per step; nil discards.
	Progress io.Writer
}

// Node is a running node.
type Node struct {
	// Dir is the state folder; its logs/ hold every component's log.
	Dir string
	// Kubeconfig is the path of an admin (system:masters) kubeconfig.
	Kubeconfig string
	// Config is the admin client configuration.
	Config *rest.Config
	// CACertPEM is the cluster CA.
	CACertPEM []byte

	opts   Options
	ledger *ledger
	server string
}

// Requirements explains what this machine lacks to run a node, or is empty.
func Requirements() string {
	if os.Geteuid() != 0 {
		return "the real-node tests need root (they run containerd, a kubelet and iptables)"
	}
	if _, err := exec.LookPath("apt-get"); err != nil && !havePackages() {
		return "the real-node tests need containerd, runc, the CNI plugins and iptables (Debian's packages), and no apt-get is here to install them"
	}
	return ""
}

var packages = map[string]string{
	"/usr/bin/containerd": "containerd", "/usr/sbin/runc": "runc", "/usr/lib/cni/bridge": "containernetworking-plugins",
	"/usr/sbin/iptables": "iptables", "/usr/sbin/conntrack": "conntrack", "/usr/bin/socat": "socat",
}

func havePackages() bool {
	for path := range packages {
		if !exists(path) {
			return false
		}
	}
	return true
}

// installPackages installs Debian's packages the node needs, when missing.
func installPackages(ctx context.Context, log io.Writer) error {
	if havePackages() {
		return nil
	}
	var missing []string
	for path, pkg := range packages {
		if !exists(path) {
			missing = append(missing, pkg)
		}
	}
	fmt.Fprintf(log, "realnode: installing %s\n", strings.Join(missing, " "))
	for _, args := range [][]string{{"update"}, append([]string{"install", "-y", "--no-install-recommends"}, missing...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		// The package's own service must not start: this node runs its own containerd.
		cmd.Env = append(cmd.Env, "RUNLEVEL=1")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return nil
}

// Start brings a node up. On error it has already torn down what it made.
func Start(ctx context.Context, opts Options) (_ *Node, err error) {
	if opts.StateDir == "" {
		opts.StateDir = defaultStateDir
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if why := Requirements(); why != "" {
		return nil, errors.New(why)
	}
	if err := installPackages(ctx, opts.Progress); err != nil {
		return nil, err
	}
	// A state folder left by a run that died is ours: clean it first.
	if exists(ledgerPath(opts.StateDir)) {
		fmt.Fprintf(opts.Progress, "realnode: tearing down a node left in %s\n", opts.StateDir)
		if err := Teardown(opts.StateDir, opts.Progress); err != nil {
			return nil, fmt.Errorf("leftover node in %s: %w", opts.StateDir, err)
		}
	}
	if err := preflight(); err != nil {
		return nil, err
	}
	n := &Node{Dir: opts.StateDir, opts: opts}
	if err := os.MkdirAll(filepath.Join(n.Dir, "logs"), 0o700); err != nil {
		return nil, err
	}
	n.ledger = &ledger{path: ledgerPath(n.Dir), Sysctls: map[string]string{}}
	defer func() {
		if err != nil {
			fmt.Fprintf(opts.Progress, "realnode: start failed (%v); logs were in %s/logs; tearing down\n", err, n.Dir)
			n.dumpLogTails()
			_ = Teardown(n.Dir, opts.Progress)
		}
	}()
	if err := n.ledger.save(); err != nil {
		return nil, err
	}
	start := time.Now()
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"network: interface " + nodeLink + " with " + NodeIP, n.setUpNetwork},
		{"certificates and kubeconfigs", n.writePKI},
		{"etcd and kube-apiserver", n.startControlPlane},
		{"kube-controller-manager and kube-scheduler", n.startControllers},
		{"containerd and images", n.startContainerd},
		{"kubelet and kube-proxy", n.startNodeAgents},
		{"node Ready", n.waitNodeReady},
	}
	for _, s := range steps {
		t := time.Now()
		if err := s.do(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", s.what, err)
		}
		fmt.Fprintf(opts.Progress, "realnode: %s (%.1fs)\n", s.what, time.Since(t).Seconds())
	}
	fmt.Fprintf(opts.Progress, "realnode: node up in %.1fs; KUBECONFIG=%s\n", time.Since(start).Seconds(), n.Kubeconfig)
	return n, nil
}

// Stop tears the node down.
func (n *Node) Stop() error { return Teardown(n.Dir, n.opts.Progress) }

// preflight refuses to start where the machine already has what the node
// would create: those would be someone else's, and teardown must touch only
// its own.
func preflight() error {
	for _, link := range []string{nodeLink, bridgeLink} {
		if exists("/sys/class/net/" + link) {
			return fmt.Errorf("network interface %s exists already", link)
		}
	}
	for _, root := range cgroupRoots() {
		if exists(filepath.Join(root, "kubepods")) {
			return fmt.Errorf("%s/kubepods exists: another kubelet runs (or ran) here", root)
		}
	}
	for _, cmd := range []string{"iptables", "ip6tables"} {
		chains, err := ourChains(cmd)
		if err != nil {
			return err
		}
		if len(chains) > 0 {
			return fmt.Errorf("%s-save shows Kubernetes or CNI chains already (%s): another node runs here", cmd, strings.Join(chains, ", "))
		}
	}
	for _, port := range []int{10250} {
		l, err := net.Listen("tcp", "0.0.0.0:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("port %d (the kubelet's) is taken: %w", port, err)
		}
		_ = l.Close()
	}
	return nil
}

func (n *Node) setUpNetwork(ctx context.Context) error {
	n.ledger.Links = []string{bridgeLink, nodeLink}
	n.ledger.NetnsBefore = listNetns()
	for _, d := range fixedDirs {
		if !exists(d) {
			n.ledger.CreatedDirs = append(n.ledger.CreatedDirs, d)
		}
	}
	if err := n.ledger.save(); err != nil {
		return err
	}
	for _, args := range [][]string{
		// A bridge with no ports stands in for a dummy interface: this
		// kernel has no dummy module, and either only holds an address.
		{"link", "add", nodeLink, "type", "bridge"},
		{"addr", "add", NodeIP + "/32", "dev", nodeLink},
		{"link", "set", nodeLink, "up"},
	} {
		if err := run(ctx, "ip", args...); err != nil {
			return err
		}
	}
	return nil
}

// fixedDirs are folders the components use whatever they are told: the
// kubelet's container log links, CNI's network namespaces and result cache,
// the containerd shims' sockets. Those the node creates, it removes.
var fixedDirs = []string{"/var/log/containers", "/run/netns", "/var/lib/cni", "/run/containerd"}

func (n *Node) pki() string { return filepath.Join(n.Dir, "pki") }

func (n *Node) writePKI(context.Context) error {
	dir := n.pki()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	ca, err := newAuthority()
	if err != nil {
		return err
	}
	n.CACertPEM = ca.pem
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.pem, 0o600); err != nil {
		return err
	}
	keyDER, err := marshalECKey(ca)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), keyDER, 0o600); err != nil {
		return err
	}
	if _, _, err := ca.issue(dir, "apiserver", identity{
		commonName: "kube-apiserver", server: true,
		dnsNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		ips:      []net.IP{net.ParseIP(NodeIP), net.ParseIP(KubernetesSvc), net.ParseIP("127.0.0.1")},
	}); err != nil {
		return err
	}
	if _, _, err := writeServiceAccountKeys(dir); err != nil {
		return err
	}
	port, err := freePort(NodeIP)
	if err != nil {
		return err
	}
	n.server = "https://" + net.JoinHostPort(NodeIP, strconv.Itoa(port))
	clients := []struct {
		file string
		id   identity
	}{
		{"admin", identity{commonName: "tokenhook-node-admin", groups: []string{"system:masters"}}},
		{"apiserver-kubelet-client", identity{commonName: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}}},
		{"controller-manager", identity{commonName: "system:kube-controller-manager"}},
		{"scheduler", identity{commonName: "system:kube-scheduler"}},
		{"kubelet", identity{commonName: "system:node:" + NodeName, groups: []string{"system:nodes"}}},
		{"kube-proxy", identity{commonName: "system:kube-proxy"}},
	}
	for _, c := range clients {
		crt, key, err := ca.issue(dir, c.file, c.id)
		if err != nil {
			return err
		}
		if c.file == "apiserver-kubelet-client" {
			continue
		}
		if err := writeKubeconfig(filepath.Join(dir, c.file+".kubeconfig"), n.server, filepath.Join(dir, "ca.crt"), crt, key); err != nil {
			return err
		}
	}
	n.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	n.Config, err = clientcmd.BuildConfigFromFlags("", n.Kubeconfig)
	return err
}

func (n *Node) startControlPlane(ctx context.Context) error {
	clientPort, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	peerPort, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	if err := n.launch("etcd", "etcd",
		"--data-dir="+filepath.Join(n.Dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls=http://127.0.0.1:"+strconv.Itoa(peerPort),
		"--initial-advertise-peer-urls=http://127.0.0.1:"+strconv.Itoa(peerPort),
		"--initial-cluster=default=http://127.0.0.1:"+strconv.Itoa(peerPort),
		"--unsafe-no-fsync", "--quota-backend-bytes=2147483648", "--log-level=warn",
	); err != nil {
		return err
	}
	p := n.pki()
	u := strings.TrimPrefix(n.server, "https://")
	_, port, _ := net.SplitHostPort(u)
	if err := n.launch("kube-apiserver", "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address="+NodeIP, "--advertise-address="+NodeIP, "--secure-port="+port,
		"--cert-dir="+filepath.Join(n.Dir, "apiserver"),
		"--service-cluster-ip-range="+ServiceCIDR,
		"--client-ca-file="+filepath.Join(p, "ca.crt"),
		"--tls-cert-file="+filepath.Join(p, "apiserver.crt"), "--tls-private-key-file="+filepath.Join(p, "apiserver.key"),
		"--kubelet-client-certificate="+filepath.Join(p, "apiserver-kubelet-client.crt"),
		"--kubelet-client-key="+filepath.Join(p, "apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--service-account-key-file="+filepath.Join(p, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(p, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=false",
		"--profiling=false",
		"--v=0",
	); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		return err
	}
	return poll(ctx, 60*time.Second, func() (bool, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
}

func (n *Node) startControllers(context.Context) error {
	p := n.pki()
	if err := n.launch("kube-controller-manager", "kube-controller-manager",
		"--kubeconfig="+filepath.Join(p, "controller-manager.kubeconfig"),
		"--authentication-kubeconfig="+filepath.Join(p, "controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+filepath.Join(p, "controller-manager.kubeconfig"),
		"--use-service-account-credentials",
		"--service-account-private-key-file="+filepath.Join(p, "sa.key"),
		"--root-ca-file="+filepath.Join(p, "ca.crt"),
		"--cluster-signing-cert-file="+filepath.Join(p, "ca.crt"),
		"--cluster-signing-key-file="+filepath.Join(p, "ca.key"),
		"--service-cluster-ip-range="+ServiceCIDR,
		"--leader-elect=false", "--secure-port=0", "--profiling=false",
		// Fast reactions for tests: a deleted pod's replacement, a dead node's pods.
		"--concurrent-deployment-syncs=5", "--concurrent-replicaset-syncs=5",
	); err != nil {
		return err
	}
	return n.launch("kube-scheduler", "kube-scheduler",
		"--kubeconfig="+filepath.Join(p, "scheduler.kubeconfig"),
		"--authentication-kubeconfig="+filepath.Join(p, "scheduler.kubeconfig"),
		"--authorization-kubeconfig="+filepath.Join(p, "scheduler.kubeconfig"),
		"--leader-elect=false", "--secure-port=0", "--profiling=false",
	)
}

func (n *Node) startContainerd(ctx context.Context) error {
	for _, d := range []string{"containerd", "cni/net.d", "cni/ipam"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o700); err != nil {
			return err
		}
	}
	cfg := filepath.Join(n.Dir, "containerd", "config.toml")
	if err := os.WriteFile(cfg, []byte(containerdConfig(n.Dir)), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.Dir, "cni", "net.d", "10-tokenhook.conflist"), []byte(cniConfig(n.Dir)), 0o600); err != nil {
		return err
	}
	// From here on, pods (their cgroups, netns, chains) may exist.
	n.ledger.Cgroups, n.ledger.IPTables = true, true
	if err := n.ledger.save(); err != nil {
		return err
	}
	if err := n.launchPath("containerd", "/usr/bin/containerd", "--config", cfg); err != nil {
		return err
	}
	if err := poll(ctx, 30*time.Second, func() (bool, error) {
		return ctr(ctx, n.Dir, "version") == nil, nil
	}); err != nil {
		return fmt.Errorf("containerd did not answer: %w", err)
	}
	pause, err := buildPauseImage(ctx, n.Dir)
	if err != nil {
		return fmt.Errorf("pause image: %w", err)
	}
	for _, img := range append([]string{pause}, n.opts.Images...) {
		t := time.Now()
		if err := ctr(ctx, n.Dir, "-n", "k8s.io", "images", "import", img); err != nil {
			return fmt.Errorf("import %s: %w", img, err)
		}
		fmt.Fprintf(n.opts.Progress, "realnode: imported %s (%.1fs)\n", filepath.Base(img), time.Since(t).Seconds())
	}
	return nil
}

func (n *Node) startNodeAgents(ctx context.Context) error {
	for _, d := range []string{"kubelet", "logs/pods"} {
		if err := os.MkdirAll(filepath.Join(n.Dir, d), 0o700); err != nil {
			return err
		}
	}
	for _, name := range kubeletSysctls {
		if v, err := readSysctl(name); err == nil {
			n.ledger.Sysctls[name] = v
		}
	}
	if err := n.ledger.save(); err != nil {
		return err
	}
	p := n.pki()
	cfg := filepath.Join(n.Dir, "kubelet", "config.yaml")
	if err := os.WriteFile(cfg, []byte(kubeletConfig(n.Dir, filepath.Join(p, "ca.crt"))+
		"podLogsDir: "+strconv.Quote(filepath.Join(n.Dir, "logs", "pods"))+"\n"), 0o600); err != nil {
		return err
	}
	if err := n.launch("kubelet", "kubelet",
		"--config="+cfg,
		"--kubeconfig="+filepath.Join(p, "kubelet.kubeconfig"),
		"--root-dir="+filepath.Join(n.Dir, "kubelet", "root"),
		"--cert-dir="+filepath.Join(n.Dir, "kubelet", "pki"),
		"--hostname-override="+NodeName, "--node-ip="+NodeIP,
		"--v=1",
	); err != nil {
		return err
	}
	healthz, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	metrics, err := freePort("127.0.0.1")
	if err != nil {
		return err
	}
	proxyCfg := filepath.Join(n.Dir, "kube-proxy.yaml")
	if err := os.WriteFile(proxyCfg, []byte(kubeProxyConfig(filepath.Join(p, "kube-proxy.kubeconfig"), healthz, metrics)), 0o600); err != nil {
		return err
	}
	return n.launch("kube-proxy", "kube-proxy", "--config="+proxyCfg, "--v=1")
}

func (n *Node) waitNodeReady(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(n.Config)
	if err != nil {
		return err
	}
	return poll(ctx, 120*time.Second, func() (bool, error) {
		// Not registered yet is the same as not Ready: ask again.
		node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		return err == nil && nodeReady(node), nil
	})
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// launch starts one of the Kubernetes binaries from opts.Bin.
func (n *Node) launch(name, binary string, args ...string) error {
	return n.launchPath(name, filepath.Join(n.opts.Bin, binary), args...)
}

// launchPath starts a component in its own process group, logging to
// logs/<name>.log, and records it in the ledger.
func (n *Node) launchPath(name, path string, args ...string) error {
	logFile, err := os.OpenFile(filepath.Join(n.Dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	start, err := procStart(cmd.Process.Pid)
	if err != nil {
		return err
	}
	n.ledger.Procs = append(n.ledger.Procs, ledgerProc{Name: name, Pid: cmd.Process.Pid, Start: start})
	if err := n.ledger.save(); err != nil {
		return err
	}
	// Reap it when it exits, so it never lingers as a zombie that looks alive.
	go func() { _ = cmd.Wait() }()
	return nil
}

// LogTail returns the last lines of a component's log.
func (n *Node) LogTail(name string, lines int) string {
	raw, err := os.ReadFile(filepath.Join(n.Dir, "logs", name+".log"))
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func (n *Node) dumpLogTails() {
	for _, p := range n.ledger.Procs {
		fmt.Fprintf(n.opts.Progress, "---- %s (last lines)\n%s\n", p.Name, n.LogTail(p.Name, 15))
	}
}

func ctr(ctx context.Context, dir string, args ...string) error {
	return run(ctx, "ctr", append([]string{"--address", containerdSocket(dir)}, args...)...)
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func poll(ctx context.Context, timeout time.Duration, done func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %s", timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// TagImage gives an imported image a second name, as a push of a new tag
// to a registry would.
func (n *Node) TagImage(src, dst string) error {
	return ctr(context.Background(), n.Dir, "-n", "k8s.io", "images", "tag", "--force", src, dst)
}

package realnode

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Teardown undoes what the ledger in dir records, in reverse: pods, the
// components, iptables chains, mounts, network namespaces and interfaces,
// cgroups, sysctls, and finally the folder. It keeps going past errors and
// returns them all.
func Teardown(dir string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	l, err := readLedger(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	note := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
	}
	procs := map[string]ledgerProc{}
	for _, p := range l.Procs {
		procs[p.Name] = p
	}
	// The kubelet first, so it restarts nothing; then every pod, through
	// containerd's CRI (that runs CNI DEL, which frees IPs and veths).
	for _, name := range []string{"kubelet", "kube-proxy"} {
		procs[name].stop(10 * time.Second)
	}
	if c, ok := procs["containerd"]; ok {
		if !c.alive() {
			// Died or killed with the test: bring it back to remove the pods properly.
			if cfg := filepath.Join(dir, "containerd", "config.toml"); exists(cfg) {
				if p, err := relaunchContainerd(dir, cfg); err == nil {
					c = p
				}
			}
		}
		note("remove pods", removePods(containerdSocket(dir)))
		c.stop(10 * time.Second)
	}
	note("stop leftover shims", killShims(dir))
	if l.Cgroups {
		killCgroupProcs()
	}
	for _, name := range []string{"kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		procs[name].stop(10 * time.Second)
	}
	for _, p := range l.Procs { // anything else recorded
		p.stop(5 * time.Second)
	}
	if l.IPTables {
		for _, cmd := range []string{"iptables", "ip6tables"} {
			note(cmd, removeChains(cmd))
		}
	}
	note("network namespaces", removeNetns(l.NetnsBefore))
	note("mounts", unmountUnder(dir))
	for _, link := range l.Links {
		note("link "+link, removeLink(link))
	}
	if l.Cgroups {
		note("cgroups", removeCgroups())
	}
	for name, v := range l.Sysctls {
		if cur, err := readSysctl(name); err == nil && cur != v {
			note("sysctl "+name, writeSysctl(name, v))
		}
	}
	for _, d := range l.CreatedDirs {
		removeOurLogLinks(d, dir)
	}
	if len(errs) == 0 {
		note("state folder", os.RemoveAll(dir))
	}
	if len(errs) > 0 {
		fmt.Fprintf(log, "realnode: teardown left %d problem(s); the ledger stays in %s for another try\n", len(errs), dir)
	} else {
		fmt.Fprintln(log, "realnode: torn down")
	}
	return errors.Join(errs...)
}

func relaunchContainerd(dir, cfg string) (ledgerProc, error) {
	cmd := exec.Command("/usr/bin/containerd", "--config", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return ledgerProc{}, err
	}
	go func() { _ = cmd.Wait() }()
	start, _ := procStart(cmd.Process.Pid)
	p := ledgerProc{Name: "containerd", Pid: cmd.Process.Pid, Start: start}
	for i := 0; i < 100 && !exists(containerdSocket(dir)); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	return p, nil
}

// removePods stops and removes every pod sandbox (and so its containers).
func removePods(socket string) error {
	if !exists(socket) {
		return nil
	}
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("list pod sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range list.Items {
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killShims kills containerd shims started for this node's containerd:
// their command line names its socket.
func killShims(dir string) error {
	sock := containerdSocket(dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(raw), "\x00")
		if len(args) > 0 && strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") && slices.Contains(args, sock) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return nil
}

// cgroupRoots are the hierarchies where the kubelet makes kubepods.
func cgroupRoots() []string {
	entries, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil
	}
	var roots []string
	if exists("/sys/fs/cgroup/cgroup.controllers") { // pure cgroup v2
		return []string{"/sys/fs/cgroup"}
	}
	for _, e := range entries {
		if e.IsDir() {
			roots = append(roots, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return roots
}

// killCgroupProcs kills every process still in a kubepods cgroup: the
// kubepods trees are this node's (preflight saw none).
func killCgroupProcs() {
	for _, root := range cgroupRoots() {
		_ = filepath.WalkDir(filepath.Join(root, "kubepods"), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && d.Name() == "cgroup.procs" {
				raw, _ := os.ReadFile(path)
				for _, f := range strings.Fields(string(raw)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			return nil // a folder gone meanwhile is fine
		})
	}
	time.Sleep(200 * time.Millisecond)
}

// removeCgroups removes the kubepods trees, deepest folders first.
func removeCgroups() error {
	var errs []error
	for _, root := range cgroupRoots() {
		top := filepath.Join(root, "kubepods")
		if !exists(top) {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			var err error
			for i := 0; i < 20; i++ { // a dying process may hold it a moment
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, os.ErrNotExist) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ourChain says whether a chain is one a node makes: kube-proxy's and the
// kubelet's KUBE-*, and the CNI plugins' CNI-*.
func ourChain(name string) bool {
	return strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-")
}

// ourRules is what iptables-save shows of a node in one address family:
// its chains by table, and the rules of built-in chains that jump to them.
type ourRules struct {
	chains map[string][]string // table -> chain names
	jumps  []ourJump
}

type ourJump struct{ table, rule string } // rule as iptables-save prints it, without "-A "

// readOurRules runs <cmd>-save (cmd is iptables or ip6tables) and picks out
// the node's chains and the jumps to them; with no iptables installed there
// are none.
func readOurRules(cmd string) (ourRules, error) {
	r := ourRules{chains: map[string][]string{}}
	if _, err := exec.LookPath(cmd + "-save"); err != nil {
		return r, nil //nolint:nilerr // no iptables installed: no chains of ours either
	}
	out, err := exec.Command(cmd + "-save").Output()
	if err != nil {
		return r, fmt.Errorf("%s-save: %w", cmd, err)
	}
	table := ""
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case strings.HasPrefix(line, ":"):
			if name := strings.Fields(line[1:])[0]; ourChain(name) {
				r.chains[table] = append(r.chains[table], name)
			}
		case strings.HasPrefix(line, "-A "):
			if f := strings.Fields(line); len(f) > 1 && !ourChain(f[1]) && jumpsToOurs(f) {
				r.jumps = append(r.jumps, ourJump{table: table, rule: strings.TrimPrefix(line, "-A ")})
			}
		}
	}
	return r, sc.Err()
}

// ourChains lists the node's chains in every table ("filter/KUBE-SERVICES").
func ourChains(cmd string) ([]string, error) {
	r, err := readOurRules(cmd)
	var names []string
	for table, chains := range r.chains {
		for _, c := range chains {
			names = append(names, table+"/"+c)
		}
	}
	sort.Strings(names)
	return names, err
}

// removeChains deletes the rules that jump to our chains from the built-in
// ones, then flushes and deletes our chains. Rules in built-in chains that
// do not involve ours stay as they are.
func removeChains(cmd string) error {
	r, err := readOurRules(cmd)
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range r.jumps {
		// The rule as iptables-save prints it, quoted comments and all, is
		// shell syntax: the shell gives iptables its words.
		del := cmd + " -t " + j.table + " -D " + j.rule
		if out, err := exec.Command("sh", "-c", del).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w: %s", del, err, out))
		}
	}
	for table, names := range r.chains {
		for _, c := range names {
			_ = exec.Command(cmd, "-t", table, "-F", c).Run()
		}
		for _, c := range names {
			if out, err := exec.Command(cmd, "-t", table, "-X", c).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s -t %s -X %s: %w: %s", cmd, table, c, err, out))
			}
		}
	}
	return errors.Join(errs...)
}

func jumpsToOurs(f []string) bool {
	for i, w := range f {
		if (w == "-j" || w == "-g") && i+1 < len(f) && ourChain(f[i+1]) {
			return true
		}
	}
	return false
}

func listNetns() []string {
	entries, _ := os.ReadDir("/run/netns")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// removeNetns removes the pods' network namespaces that CNI left (a pod
// removed properly has none left).
func removeNetns(before []string) error {
	var errs []error
	for _, name := range listNetns() {
		if slices.Contains(before, name) || !strings.HasPrefix(name, "cni-") {
			continue
		}
		p := filepath.Join("/run/netns", name)
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) error {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			p := unescapeMount(f[4])
			if p == dir || strings.HasPrefix(p, dir+"/") {
				points = append(points, p)
			}
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("umount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeLink deletes an interface and, for the bridge, the veths still on it.
func removeLink(name string) error {
	if !exists("/sys/class/net/" + name) {
		return nil
	}
	ports, _ := os.ReadDir(filepath.Join("/sys/class/net", name, "brif"))
	for _, p := range ports {
		_ = exec.Command("ip", "link", "del", p.Name()).Run()
	}
	return run(context.Background(), "ip", "link", "del", name)
}

// removeOurLogLinks removes the kubelet's log links that point into the
// node's folder, then the folder d itself and whatever empty folders it
// holds; a folder something else wrote into stays.
func removeOurLogLinks(d, stateDir string) {
	var dirs []string
	_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
		switch {
		case err != nil: // gone meanwhile
		case e.IsDir():
			dirs = append(dirs, p)
		default:
			if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, stateDir+"/") {
				_ = os.Remove(p)
			}
		}
		return nil //nolint:nilerr // a folder gone meanwhile is fine
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, p := range dirs {
		_ = os.Remove(p) // fails, and so stays, if something else wrote into it
	}
}

// marshalECKey is the CA key in PEM, for the controller manager's signer.
func marshalECKey(a *authority) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(a.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

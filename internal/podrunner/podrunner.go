// Package podrunner runs a Deployment's pods as local processes, for the
// end-to-end test and the demo on machines with no container runtime. It
// does what kubelet and the Deployment controller would, as far as the pod
// spec asks and no further:
//
//   - the container's command and args run as a local binary (the caller maps
//     each image command to a binary), one process per replica;
//   - ConfigMap and Secret volumes are written the way kubelet's AtomicWriter
//     does (a timestamped folder, an atomically swapped "..data" symlink, key
//     symlinks into it) and re-synced when the objects change, so hot reload
//     is exercised for real; mount paths in args are mapped onto those folders;
//   - each container port gets a free loopback port (like a port mapping),
//     and ":<port>" listen arguments are mapped to it;
//   - the readiness probe is polled (HTTP, or HTTPS unverified like kubelet),
//     and the Deployment's status reports the ready replicas, so the operator
//     sees the hook server come up.
//
// Anything else in the pod spec (init containers, other volume types,
// subPath, env from references, a second container, ...) is an error: a
// runner that silently ignored part of the spec would test nothing.
package podrunner

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Runner starts Deployments' pods as processes.
type Runner struct {
	// Client reads ConfigMaps and Secrets and writes Deployment status.
	Client client.Client
	// Binaries maps a container's command[0] (e.g. "/hookserver") to a
	// local executable.
	Binaries map[string]string
	// Dir holds the pods' volumes; it must exist.
	Dir string
	// Log receives the processes' output, each line prefixed with the pod.
	Log io.Writer
	// MaxReplicas caps the processes per Deployment (0: 3).
	MaxReplicas int
}

// Deployment is a running Deployment.
type Deployment struct {
	r      *Runner
	key    types.NamespacedName
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	generation int64
	pods       []*pod
	err        error
}

// Start runs the Deployment's pods until ctx ends or Stop is called, and
// keeps them in step with the Deployment, its ConfigMaps and its Secrets.
func (r *Runner) Start(ctx context.Context, key types.NamespacedName) (*Deployment, error) {
	ctx, cancel := context.WithCancel(ctx)
	d := &Deployment{r: r, key: key, cancel: cancel, done: make(chan struct{})}
	if err := d.rollout(ctx); err != nil {
		cancel()
		return nil, err
	}
	go d.loop(ctx)
	return d, nil
}

// Stop ends every process and waits for them.
func (d *Deployment) Stop() {
	d.cancel()
	<-d.done
}

// Addrs returns, per running replica, the loopback address of the named
// container port.
func (d *Deployment) Addrs(portName string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, p := range d.pods {
		if a, ok := p.portsByName[portName]; ok {
			out = append(out, a)
		}
	}
	return out
}

// Err is the last error the runner met while keeping the pods in step.
func (d *Deployment) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

func (d *Deployment) loop(ctx context.Context) {
	defer close(d.done)
	defer d.stopPods()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := d.sync(ctx)
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
	}
}

// sync rolls out a new pod template, refreshes volumes and reports status.
func (d *Deployment) sync(ctx context.Context) error {
	dep := &appsv1.Deployment{}
	if err := d.r.Client.Get(ctx, d.key, dep); err != nil {
		return fmt.Errorf("get Deployment %s: %w", d.key, err)
	}
	if !dep.DeletionTimestamp.IsZero() {
		d.stopPods()
		return nil
	}
	d.mu.Lock()
	changed := dep.Generation != d.generation
	d.mu.Unlock()
	if changed {
		return d.rollout(ctx)
	}
	ready := 0
	for _, p := range d.snapshot() {
		if err := p.syncVolumes(ctx, d.r.Client); err != nil {
			return err
		}
		if p.ready() {
			ready++
		}
	}
	return d.reportStatus(ctx, dep, ready)
}

func (d *Deployment) snapshot() []*pod {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.pods)
}

// rollout replaces the pods with ones of the current template.
func (d *Deployment) rollout(ctx context.Context) error {
	dep := &appsv1.Deployment{}
	if err := d.r.Client.Get(ctx, d.key, dep); err != nil {
		return fmt.Errorf("get Deployment %s: %w", d.key, err)
	}
	if err := supported(&dep.Spec.Template.Spec); err != nil {
		return fmt.Errorf("Deployment %s: %w", d.key, err)
	}
	d.stopPods()
	replicas := int(ptr.Deref(dep.Spec.Replicas, 1))
	limit := d.r.MaxReplicas
	if limit <= 0 {
		limit = 3
	}
	var pods []*pod
	for i := range min(replicas, limit) {
		p, err := d.r.startPod(ctx, dep, i)
		if err != nil {
			for _, started := range pods {
				started.stop()
			}
			return err
		}
		pods = append(pods, p)
	}
	d.mu.Lock()
	d.pods, d.generation = pods, dep.Generation
	d.mu.Unlock()
	return nil
}

func (d *Deployment) stopPods() {
	d.mu.Lock()
	pods := d.pods
	d.pods = nil
	d.mu.Unlock()
	// In parallel, as kubelet would: each waits out its graceful shutdown.
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(p.stop)
	}
	wg.Wait()
}

// reportStatus writes what the Deployment controller would.
func (d *Deployment) reportStatus(ctx context.Context, dep *appsv1.Deployment, ready int) error {
	n := int32(len(d.snapshot()))
	status := corev1.ConditionFalse
	reason := "MinimumReplicasUnavailable"
	if ready > 0 {
		status, reason = corev1.ConditionTrue, "MinimumReplicasAvailable"
	}
	want := appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n,
		ReadyReplicas: int32(ready), AvailableReplicas: int32(ready), UnavailableReplicas: n - int32(ready),
		Conditions: []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentAvailable, Status: status, Reason: reason,
			LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}},
	}
	cur := dep.Status
	if cur.ObservedGeneration == want.ObservedGeneration && cur.ReadyReplicas == want.ReadyReplicas &&
		cur.Replicas == want.Replicas && len(cur.Conditions) == 1 && cur.Conditions[0].Status == status {
		return nil
	}
	dep.Status = want
	if err := d.r.Client.Status().Update(ctx, dep); err != nil {
		return fmt.Errorf("update Deployment %s status: %w", d.key, err)
	}
	return nil
}

// supported refuses pod specs the runner cannot honour.
func supported(spec *corev1.PodSpec) error {
	var problems []string
	if len(spec.Containers) != 1 {
		problems = append(problems, fmt.Sprintf("%d containers (exactly one is supported)", len(spec.Containers)))
	}
	if len(spec.InitContainers) > 0 || len(spec.EphemeralContainers) > 0 {
		problems = append(problems, "init or ephemeral containers")
	}
	for _, v := range spec.Volumes {
		if v.ConfigMap == nil && v.Secret == nil && v.EmptyDir == nil {
			problems = append(problems, fmt.Sprintf("volume %q is neither a ConfigMap, a Secret nor an emptyDir", v.Name))
		}
	}
	for _, c := range spec.Containers {
		if len(c.Command) == 0 {
			problems = append(problems, fmt.Sprintf("container %q has no command (the image's entrypoint is unknown here)", c.Name))
		}
		if len(c.EnvFrom) > 0 {
			problems = append(problems, fmt.Sprintf("container %q uses envFrom", c.Name))
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				problems = append(problems, fmt.Sprintf("container %q env %s uses valueFrom", c.Name, e.Name))
			}
		}
		for _, m := range c.VolumeMounts {
			if m.SubPath != "" || m.SubPathExpr != "" {
				problems = append(problems, fmt.Sprintf("container %q mount %s uses subPath", c.Name, m.MountPath))
			}
		}
		if c.Lifecycle != nil {
			problems = append(problems, fmt.Sprintf("container %q has lifecycle hooks", c.Name))
		}
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet == nil {
			problems = append(problems, fmt.Sprintf("container %q has a non-HTTP readiness probe", c.Name))
		}
		if c.WorkingDir != "" {
			problems = append(problems, fmt.Sprintf("container %q sets workingDir", c.Name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("pod spec cannot be run locally: %s", strings.Join(problems, "; "))
	}
	return nil
}

// pod is one replica: a process and its volumes.
type pod struct {
	name        string
	cmd         *exec.Cmd
	exited      chan struct{}
	volumes     []*volume
	portsByName map[string]string
	readyURL    string
}

func (r *Runner) startPod(ctx context.Context, dep *appsv1.Deployment, i int) (*pod, error) {
	spec := dep.Spec.Template.Spec
	c := spec.Containers[0]
	name := fmt.Sprintf("%s-%d", dep.Name, i)
	bin, ok := r.Binaries[c.Command[0]]
	if !ok {
		return nil, fmt.Errorf("pod %s: no local binary for command %q", name, c.Command[0])
	}
	root, err := os.MkdirTemp(r.Dir, name+"-")
	if err != nil {
		return nil, err
	}
	p := &pod{name: name, exited: make(chan struct{}), portsByName: map[string]string{}}

	// Volumes, and the mapping of mount paths onto their local folders.
	byName := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		byName[v.Name] = v
	}
	var mounts [][2]string
	for _, m := range c.VolumeMounts {
		v, ok := byName[m.Name]
		if !ok {
			return nil, fmt.Errorf("pod %s: mount %s names no volume %q", name, m.MountPath, m.Name)
		}
		vol := &volume{source: v, namespace: dep.Namespace, dir: filepath.Join(root, "volumes", v.Name)}
		if err := vol.sync(ctx, r.Client); err != nil {
			return nil, fmt.Errorf("pod %s: %w", name, err)
		}
		p.volumes = append(p.volumes, vol)
		mounts = append(mounts, [2]string{m.MountPath, vol.dir})
	}
	// Longest mount paths first, so nested mounts map correctly.
	slices.SortFunc(mounts, func(a, b [2]string) int { return len(b[0]) - len(a[0]) })

	// Ports: each container port gets a free loopback port.
	portMap := map[string]string{}
	for _, cp := range c.Ports {
		addr, err := freeLoopback()
		if err != nil {
			return nil, err
		}
		portMap[fmt.Sprintf(":%d", cp.ContainerPort)] = addr
		if cp.Name != "" {
			p.portsByName[cp.Name] = addr
		}
	}
	mapArg := func(a string) string {
		for _, m := range mounts {
			a = strings.ReplaceAll(a, m[0], m[1])
		}
		for from, to := range portMap {
			if strings.HasSuffix(a, "="+from) {
				a = strings.TrimSuffix(a, from) + to
			}
		}
		return a
	}
	args := make([]string, 0, len(c.Command)-1+len(c.Args))
	for _, a := range append(slices.Clone(c.Command[1:]), c.Args...) {
		args = append(args, mapArg(a))
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}
	for _, e := range c.Env {
		env = append(env, e.Name+"="+mapArg(e.Value))
	}
	if probe := c.ReadinessProbe; probe != nil {
		port := probe.HTTPGet.Port.String()
		addr, ok := p.portsByName[port]
		if !ok {
			addr, ok = portMap[":"+port]
		}
		if !ok {
			return nil, fmt.Errorf("pod %s: readiness probe port %s is not a container port", name, port)
		}
		scheme := "http"
		if probe.HTTPGet.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		p.readyURL = scheme + "://" + addr + probe.HTTPGet.Path
	}

	p.cmd = exec.Command(bin, args...)
	p.cmd.Env, p.cmd.Dir = env, root
	if r.Log != nil {
		w := &prefixWriter{w: r.Log, prefix: "[" + name + "] "}
		p.cmd.Stdout, p.cmd.Stderr = w, w
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pod %s: start %s: %w", name, bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// probeClient probes like kubelet: HTTPS without verifying the certificate.
var probeClient = &http.Client{
	Timeout: time.Second,
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet's probes do not verify either
		DisableKeepAlives: true,
	},
}

func (p *pod) ready() bool {
	select {
	case <-p.exited:
		return false
	default:
	}
	if p.readyURL == "" {
		return true
	}
	resp, err := probeClient.Get(p.readyURL)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

func (p *pod) syncVolumes(ctx context.Context, c client.Client) error {
	for _, v := range p.volumes {
		if err := v.sync(ctx, c); err != nil {
			return fmt.Errorf("pod %s: %w", p.name, err)
		}
	}
	return nil
}

// stop sends SIGTERM, like kubelet, then kills after a grace period.
func (p *pod) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := slices.Index(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := fmt.Fprintf(w.w, "%s%s\n", w.prefix, w.buf[:i]); err != nil {
			return 0, err
		}
		w.buf = w.buf[i+1:]
	}
}

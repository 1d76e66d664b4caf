package realnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ledger records, in the state folder, everything the node changed on the
// machine, so that Teardown undoes exactly that (and nothing else), also in
// a later process after a crash or a kill -9.
type ledger struct {
	path string

	Procs []ledgerProc `json:"procs"`
	// Sysctls holds the values the kubelet may rewrite, as they were.
	Sysctls map[string]string `json:"sysctls"`
	// Links are the network interfaces the node created.
	Links []string `json:"links"`
	// NetnsBefore lists /run/netns before the node started: any other
	// cni-* entry is a pod's.
	NetnsBefore []string `json:"netnsBefore"`
	// CreatedDirs are folders outside the state folder that did not exist
	// before (e.g. /var/log/containers).
	CreatedDirs []string `json:"createdDirs"`
	// Cgroups says kubepods cgroups may exist (they did not before).
	Cgroups bool `json:"cgroups"`
	// IPTables says KUBE-* and CNI-* chains may exist (none did before).
	IPTables bool `json:"iptables"`
}

// ledgerProc identifies a process by pid and start time, so a recycled pid
// is never signalled.
type ledgerProc struct {
	Name  string `json:"name"`
	Pid   int    `json:"pid"`
	Start string `json:"start"`
}

func ledgerPath(dir string) string { return filepath.Join(dir, "ledger.json") }

func readLedger(dir string) (*ledger, error) {
	l := &ledger{path: ledgerPath(dir)}
	raw, err := os.ReadFile(l.path)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, l); err != nil {
		return nil, fmt.Errorf("%s: %w", l.path, err)
	}
	return l, nil
}

// save writes the ledger atomically; it is called before each change it records.
func (l *ledger) save() error {
	raw, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}

// procStart is field 22 of /proc/<pid>/stat: the start time in clock ticks.
func procStart(pid int) (string, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return "", errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", errors.New("bad stat")
	}
	return f[19], nil
}

// alive reports whether p still runs (and is the process that was recorded).
func (p ledgerProc) alive() bool {
	start, err := procStart(p.Pid)
	return err == nil && start == p.Start
}

// stop sends SIGTERM, waits up to grace, then SIGKILL.
func (p ledgerProc) stop(grace time.Duration) {
	if !p.alive() {
		return
	}
	_ = syscall.Kill(p.Pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	for i := 0; i < 100 && p.alive(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// readSysctl reads a /proc/sys value by its dotted name.
func readSysctl(name string) (string, error) {
	raw, err := os.ReadFile(sysctlPath(name))
	return strings.TrimSpace(string(raw)), err
}

func writeSysctl(name, value string) error {
	return os.WriteFile(sysctlPath(name), []byte(value), 0o644)
}

func sysctlPath(name string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

// kubeletSysctls are the kernel settings the kubelet rewrites at start when
// protectKernelDefaults is off (pkg/kubelet/cm: setupKernelTunables). They
// are recorded before and restored after.
var kubeletSysctls = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
}

// exists reports whether a path exists.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

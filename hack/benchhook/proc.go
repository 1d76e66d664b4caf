package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is a server process under test.
type server struct {
	name string
	addr string
	cmd  *exec.Cmd
	tls  *tls.Config // how clients dial it; nil: plain TCP
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// start runs the command, its output to logFile, and waits until readyURL answers 200.
func start(ctx context.Context, name, addr, readyURL, logFile string, argv ...string) (*server, error) {
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	// The server dies with the benchmark, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	_ = log.Close()
	s := &server{name: name, addr: addr, cmd: cmd}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // readiness of a loopback server
	}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			out, _ := os.ReadFile(logFile)
			return nil, fmt.Errorf("%s exited at start:\n%s", name, out)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		default:
		}
		if res, err := client.Get(readyURL); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s not ready after 60s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			if err := s.cmd.Process.Signal(syscall.Signal(0)); err != nil {
				close(done)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// clockTicks is USER_HZ, the unit of CPU times in /proc/PID/stat; 100 on Linux.
const clockTicks = 100

// cpuTime is the CPU the process used so far (user + system, all threads): to
// the nanosecond, as the sum of its threads' run times in schedstat, where
// /proc/PID/stat counts 10 ms ticks, 1% to 2% of a one-second phase. A Go
// server keeps its threads, so none of their time is lost with an exited
// one. Without schedstat it falls back on stat.
func (s *server) cpuTime() (time.Duration, error) {
	if d, err := s.schedTime(); err == nil {
		return d, nil
	}
	return s.statTime()
}

func (s *server) schedTime() (time.Duration, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", s.cmd.Process.Pid, t.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited just now
		}
		if err != nil {
			return 0, err
		}
		// The first field is the time spent on a CPU, in nanoseconds.
		f, _, _ := strings.Cut(string(b), " ")
		ns, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse schedstat: %w", err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

func (s *server) statTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	// utime and stime are fields 14 and 15 of stat, 12 and 13 here.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc stat: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// peakRSS is the process's high-water resident set size (VmHWM).
func (s *server) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", s.cmd.Process.Pid)
}

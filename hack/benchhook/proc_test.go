package main

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// TestCPUTime checks the nanosecond CPU time against stat's ticks, on this
// process while it burns CPU.
func TestCPUTime(t *testing.T) {
	self := &server{name: "self", cmd: &exec.Cmd{Process: &os.Process{Pid: os.Getpid()}}}
	before, err := self.schedTime()
	if err != nil {
		t.Fatalf("schedTime: %v", err)
	}
	// Busy until the threads' run time shows 100 ms more, however busy the
	// machine is; the deadline only bounds a schedTime that never moves.
	sched := before
	for deadline := time.Now().Add(10 * time.Second); sched-before < 100*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("schedTime rose by %v over 10 s of busy loop", sched-before)
		}
		if sched, err = self.schedTime(); err != nil {
			t.Fatal(err)
		}
	}
	stat, err := self.statTime()
	if err != nil {
		t.Fatal(err)
	}
	// stat counts 10 ms ticks of the same time.
	if diff := sched - stat; diff < -30*time.Millisecond || diff > 30*time.Millisecond {
		t.Errorf("schedTime %v, statTime %v: want them within 30 ms", sched, stat)
	}
}

func TestRoundOrder(t *testing.T) {
	for _, c := range []struct {
		hooks, round int
		want         []int
	}{
		{0, 0, []int{-1}},
		{2, 0, []int{-1, 0, 1}},
		{2, 1, []int{1, 0, -1}},
		{2, 2, []int{-1, 0, 1}},
		{3, 3, []int{2, 1, 0, -1}},
	} {
		if got := roundOrder(c.hooks, c.round); !slices.Equal(got, c.want) {
			t.Errorf("roundOrder(%d, %d) = %v, want %v", c.hooks, c.round, got, c.want)
		}
	}
}

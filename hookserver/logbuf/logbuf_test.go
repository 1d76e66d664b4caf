package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestLinesKeepOrderAndAllArrive(t *testing.T) {
	var out lockedBuffer
	w := New(&out, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				fmt.Fprintf(w, "g%d line %05d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	last := map[string]int{}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, l := range lines {
		var g string
		var i int
		if _, err := fmt.Sscanf(l, "%s line %d", &g, &i); err != nil {
			t.Fatalf("garbled line %q", l)
		}
		if prev, ok := last[g]; ok && i != prev+1 {
			t.Fatalf("%s: line %d after %d", g, i, prev)
		}
		last[g] = i
	}
	if len(lines) != 20000 {
		t.Errorf("%d lines; want 20000", len(lines))
	}
}

func TestFlushesWithinInterval(t *testing.T) {
	var out lockedBuffer
	w := New(&out, 10*time.Millisecond)
	defer func() { _ = w.Close() }()
	_, _ = w.Write([]byte("hello\n"))
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "hello\n" {
		if time.Now().After(deadline) {
			t.Fatal("the line was never written out")
		}
		time.Sleep(time.Millisecond)
	}
}

// Package logbuf batches log output: a hook server logs one line per call, and
// one write system call per line costs more CPU than answering the call. Lines
// are copied into a buffer that a background goroutine writes out every
// interval, or sooner when it fills.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Sizes of the buffer: a flush starts past flushAt; writers wait for the
// output past maxBuffered, so a stuck output slows the server down rather than
// growing memory without bound.
const (
	flushAt     = 32 << 10
	maxBuffered = 1 << 20
)

// Writer is an io.Writer safe for concurrent use. A line written is out within
// the interval; Close writes what is left.
type Writer struct {
	out      io.Writer
	mu       sync.Mutex // guards buf
	buf      []byte
	flushMu  sync.Mutex // serializes writes to out, keeping order
	spare    []byte
	kick     chan struct{}
	done     chan struct{}
	finished chan struct{}
	close    sync.Once
}

// New starts a Writer to out that flushes every interval.
func New(out io.Writer, interval time.Duration) *Writer {
	w := &Writer{
		out:      out,
		buf:      make([]byte, 0, 2*flushAt),
		spare:    make([]byte, 0, 2*flushAt),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	go w.loop(interval)
	return w
}

// Write buffers p; it never fails.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	n := len(w.buf)
	w.mu.Unlock()
	switch {
	case n > maxBuffered:
		w.Flush()
	case n > flushAt:
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Flush writes out what is buffered.
func (w *Writer) Flush() {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	w.buf, w.spare = w.spare[:0], w.buf
	w.mu.Unlock()
	if len(w.spare) > 0 {
		// Nowhere to report a failing log output; the next lines try again.
		_, _ = w.out.Write(w.spare)
	}
	if cap(w.spare) > 4*flushAt {
		w.spare = make([]byte, 0, 2*flushAt) // drop a buffer grown by a burst
	}
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.finished)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			w.Flush()
			return
		case <-t.C:
		case <-w.kick:
		}
		w.Flush()
	}
}

// Close writes out what is buffered and stops the background writer. Writes
// after Close are written out by Flush or further Closes only.
func (w *Writer) Close() error {
	w.close.Do(func() { close(w.done) })
	<-w.finished
	w.Flush()
	return nil
}

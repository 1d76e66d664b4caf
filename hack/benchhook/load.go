package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"time"
)

// phase is one measured run of closed-loop load.
type phase struct {
	calls, failed int
	firstFailure  string
	latencies     []time.Duration // sorted
	elapsed       time.Duration
	cpu           time.Duration
	peakRSS       int64
}

func (p *phase) reqPerSec() float64 { return float64(p.calls) / p.elapsed.Seconds() }

// percentile is the exact nearest-rank percentile of the recorded latencies.
func (p *phase) percentile(q float64) time.Duration {
	if len(p.latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(p.latencies)))) - 1
	return p.latencies[max(0, min(i, len(p.latencies)-1))]
}

func (p *phase) cpuPerCall() time.Duration {
	if p.calls == 0 {
		return 0
	}
	return p.cpu / time.Duration(p.calls)
}

// worker is one keep-alive connection sending requests back to back.
type worker struct {
	addr      string
	tls       *tls.Config // nil: plain TCP
	reqs      []request
	next      int
	conn      net.Conn
	br        *bufio.Reader
	latencies []time.Duration
	calls     int
	failed    int
	failure   string
}

func (w *worker) fail(msg string) {
	w.failed++
	if w.failure == "" {
		w.failure = msg
	}
}

// call sends one request and reads the answer; it reconnects after an error.
func (w *worker) call() (status int, err error) {
	if w.conn == nil {
		var c net.Conn
		var err error
		if w.tls != nil {
			c, err = tls.Dial("tcp", w.addr, w.tls)
		} else {
			c, err = net.Dial("tcp", w.addr)
		}
		if err != nil {
			return 0, err
		}
		w.conn, w.br = c, bufio.NewReaderSize(c, 16<<10)
	}
	req := w.reqs[w.next%len(w.reqs)]
	w.next++
	if _, err := w.conn.Write(req.raw); err != nil {
		w.reset()
		return 0, err
	}
	status, closeConn, err := readResponse(w.br)
	if err != nil || closeConn {
		w.reset()
	}
	if err == nil && !req.accepts(status) {
		err = fmt.Errorf("status %d, want %v", status, req.wantStatus)
	}
	return status, err
}

func (w *worker) reset() {
	if w.conn != nil {
		_ = w.conn.Close()
	}
	w.conn, w.br = nil, nil
}

// readResponse reads one HTTP/1.1 response with a Content-Length (or none).
func readResponse(br *bufio.Reader) (status int, closeConn bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	for _, c := range line[9:12] {
		status = status*10 + int(c-'0')
	}
	length := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			for _, c := range value {
				length = length*10 + int(c-'0')
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closeConn = true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, false, errors.New("chunked response")
		}
	}
	_, err = br.Discard(length)
	return status, closeConn, err
}

// load runs conns workers against srv for warmup, then measures for dur.
// extra, if set, runs alongside during the measurement (the reload test).
func load(srv *server, reqs []request, conns int, warmup, dur time.Duration, during func(measureStart time.Time)) (*phase, error) {
	start := time.Now()
	measureStart := start.Add(warmup)
	end := measureStart.Add(dur)
	workers := make([]*worker, conns)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{addr: srv.addr, tls: srv.tls, reqs: reqs, next: i * len(reqs) / conns,
			latencies: make([]time.Duration, 0, 1<<16)}
		workers[i] = w
		wg.Go(func() {
			defer w.reset()
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				_, err := w.call()
				took := time.Since(t0)
				if t0.Before(measureStart) {
					continue
				}
				w.calls++
				w.latencies = append(w.latencies, took)
				if err != nil {
					w.fail(err.Error())
				}
			}
		})
	}
	time.Sleep(time.Until(measureStart))
	cpu0, err := srv.cpuTime()
	if err != nil {
		return nil, err
	}
	if during != nil {
		go during(measureStart)
	}
	time.Sleep(time.Until(end))
	cpu1, err := srv.cpuTime()
	if err != nil {
		return nil, err
	}
	wg.Wait()
	p := &phase{elapsed: dur, cpu: cpu1 - cpu0}
	for _, w := range workers {
		p.calls += w.calls
		p.failed += w.failed
		if p.firstFailure == "" {
			p.firstFailure = w.failure
		}
		p.latencies = append(p.latencies, w.latencies...)
	}
	slices.Sort(p.latencies)
	if p.peakRSS, err = srv.peakRSS(); err != nil {
		return nil, err
	}
	return p, nil
}

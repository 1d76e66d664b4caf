// Package filewatch re-reads configuration files when they change: patient
// lists, shared secrets and TLS key pairs mounted from ConfigMaps and Secrets.
//
// It watches the directories holding the files, not the files, because kubelet
// updates a mounted volume by swapping the ..data symlink in the directory: the
// files themselves are symlinks that never change. A periodic resync covers
// events that inotify drops.
package filewatch

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options tune the watch. Zero values take the defaults.
type Options struct {
	// Debounce is how long the directory must be quiet before a reload (default 50ms).
	// kubelet writes a new volume as several operations; only the last one matters.
	Debounce time.Duration
	// Resync is how often the files are re-read anyway (default 1 minute).
	Resync time.Duration
	// OnError receives watcher errors that do not stop the watch (default: ignored).
	OnError func(error)
}

func (o Options) withDefaults() Options {
	if o.Debounce <= 0 {
		o.Debounce = 50 * time.Millisecond
	}
	if o.Resync <= 0 {
		o.Resync = time.Minute
	}
	if o.OnError == nil {
		o.OnError = func(error) {}
	}
	return o
}

// Reloader reads a set of files and applies their contents whenever they change.
type Reloader struct {
	files  []string
	apply  func(contents [][]byte) error
	report func(err error, took time.Duration)

	mu      sync.Mutex
	seed    maphash.Seed
	tried   bool
	lastSum uint64
	lastErr string
}

// NewReloader returns a Reloader of files. apply parses the contents (in the
// order of files) and installs them; an error from it means the old contents
// stay in force. report is told the outcome of every attempt on new contents,
// and of read failures (once per distinct failure), with the time it took.
func NewReloader(files []string, apply func(contents [][]byte) error, report func(err error, took time.Duration)) *Reloader {
	return &Reloader{files: files, apply: apply, report: report, seed: maphash.MakeSeed()}
}

// Reload reads the files and applies them if their contents changed since the
// last attempt. It returns the error of this attempt, or nil if nothing changed.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	contents := make([][]byte, len(r.files))
	var h maphash.Hash
	h.SetSeed(r.seed)
	for i, f := range r.files {
		b, err := os.ReadFile(f)
		if err != nil {
			err = fmt.Errorf("read %s: %w", f, err)
			if err.Error() != r.lastErr {
				r.lastErr = err.Error()
				r.report(err, time.Since(start))
			}
			return err
		}
		contents[i] = b
		_, _ = h.Write(b)
		_ = h.WriteByte(0) // keep file boundaries in the hash
	}
	sum := h.Sum64()
	if r.tried && sum == r.lastSum {
		return nil
	}
	r.tried, r.lastSum = true, sum
	err := r.apply(contents)
	r.lastErr = ""
	if err != nil {
		r.lastErr = err.Error()
	}
	r.report(err, time.Since(start))
	return err
}

// Run reloads once, then on every change in the files' directories and every
// resync, until ctx is done. It returns an error only if the watch cannot start.
func (r *Reloader) Run(ctx context.Context, opts Options) error {
	return Watch(ctx, r.files, opts, func() { _ = r.Reload() })
}

// Watch calls changed once at start, then (debounced) after every change in the
// directories of files that may concern them, and every resync, until ctx is done.
func Watch(ctx context.Context, files []string, opts Options, changed func()) error {
	opts = opts.withDefaults()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("start file watcher: %w", err)
	}
	defer func() { _ = w.Close() }()

	dirs := map[string]bool{}
	names := map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("watch %s: %w", f, err)
		}
		dirs[filepath.Dir(abs)] = true
		names[filepath.Base(abs)] = true
	}
	addAll := func() error {
		var errs []error
		for d := range dirs {
			if err := w.Add(d); err != nil {
				errs = append(errs, fmt.Errorf("watch directory %s: %w", d, err))
			}
		}
		return errors.Join(errs...)
	}
	if err := addAll(); err != nil {
		return err
	}
	concerns := func(name string) bool {
		base := filepath.Base(name)
		// ..data, ..data_tmp and ..<timestamp> are kubelet's AtomicWriter.
		return names[base] || strings.HasPrefix(base, "..")
	}

	changed()
	resync := time.NewTicker(opts.Resync)
	defer resync.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	var pendingSince time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !concerns(ev.Name) {
				continue
			}
			now := time.Now()
			if pendingSince.IsZero() {
				pendingSince = now
			}
			// Keep postponing while writes go on, but not forever.
			wait := opts.Debounce
			if now.Sub(pendingSince) > 10*opts.Debounce {
				wait = 0
			}
			debounce.Reset(wait)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			opts.OnError(err)
			debounce.Reset(opts.Debounce) // an overflow may have hidden a change
		case <-debounce.C:
			pendingSince = time.Time{}
			changed()
		case <-resync.C:
			// A directory removed and created again loses its watch; add it back.
			if err := addAll(); err != nil {
				opts.OnError(err)
			}
			changed()
		}
	}
}

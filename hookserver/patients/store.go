package patients

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tokenhook/tokenhook/hookserver/internal/filewatch"
)

// Store holds the list a hook server serves, read from a file and reloaded
// when the file changes. Requests see either the old list or the new one,
// never a mix: the swap is one atomic pointer store.
type Store struct {
	path     string
	log      *slog.Logger
	onLoad   func(LoadResult)
	watch    filewatch.Options
	current  atomic.Pointer[List]
	reloader *filewatch.Reloader
}

// LoadResult describes one attempt to load a new version of the file.
type LoadResult struct {
	// Err is nil when the new list is now served; otherwise the previous list
	// (if any) still is.
	Err error
	// Patients is the size of the list served after the attempt.
	Patients int
	// Duration is the time spent reading and parsing.
	Duration time.Duration
}

// StoreOptions configure a Store. All are optional.
type StoreOptions struct {
	Logger *slog.Logger
	// OnLoad is called after every attempt to load changed contents (metrics).
	OnLoad func(LoadResult)
	// Debounce is how long the file's directory must be quiet before a reload
	// (default 50ms); Resync is how often the file is re-read anyway (default 1 minute).
	Debounce, Resync time.Duration
}

// NewStore returns a store of the list in path. It holds no list until the
// first good load, by Reload or Run.
func NewStore(path string, opts StoreOptions) *Store {
	s := &Store{path: path, log: opts.Logger, onLoad: opts.OnLoad}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.watch = filewatch.Options{
		Debounce: opts.Debounce,
		Resync:   opts.Resync,
		OnError:  func(err error) { s.log.Warn("Patients file watch error", "path", path, "error", err) },
	}
	if s.onLoad == nil {
		s.onLoad = func(LoadResult) {}
	}
	s.reloader = filewatch.NewReloader([]string{path}, s.apply, s.report)
	return s
}

// Current returns the list in force, or nil before the first good load.
func (s *Store) Current() *List { return s.current.Load() }

// Ready reports whether a list has been loaded.
func (s *Store) Ready() bool { return s.current.Load() != nil }

// Reload loads the file now if it changed. A bad file leaves the current list in
// force; the error is returned, logged and reported to OnLoad.
func (s *Store) Reload() error { return s.reloader.Reload() }

// Run loads the file, then reloads it whenever it changes until ctx is done.
// It returns an error only if the file's directory cannot be watched.
func (s *Store) Run(ctx context.Context) error {
	return s.reloader.Run(ctx, s.watch)
}

func (s *Store) apply(contents [][]byte) error {
	list, err := Parse(contents[0])
	if err != nil {
		return fmt.Errorf("parse patients file %s: %w", s.path, err)
	}
	s.current.Store(list)
	return nil
}

func (s *Store) report(err error, took time.Duration) {
	res := LoadResult{Err: err, Patients: s.Current().Len(), Duration: took}
	if err != nil {
		// The error names a line and a reason, never a login or a patient ID.
		s.log.Error("Patients file rejected; keeping the last good list",
			"path", s.path, "error", err, "patients", res.Patients)
	} else {
		s.log.Info("Patients list loaded", "path", s.path, "patients", res.Patients,
			"durationMs", res.Duration.Milliseconds())
	}
	s.onLoad(res)
}

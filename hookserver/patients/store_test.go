package patients

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/hookserver/volumetest"
)

// syncBuffer is a log sink safe for the store's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type storeHarness struct {
	store *Store
	logs  *syncBuffer
	mu    sync.Mutex
	loads []LoadResult
}

// startStore runs a store of path until the test ends.
func startStore(t *testing.T, path string) *storeHarness {
	t.Helper()
	h := &storeHarness{logs: &syncBuffer{}}
	h.store = NewStore(path, StoreOptions{
		Logger: slog.New(slog.NewJSONHandler(h.logs, nil)),
		OnLoad: func(r LoadResult) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.loads = append(h.loads, r)
		},
		Debounce: 10 * time.Millisecond,
		Resync:   time.Hour,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- h.store.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

func (h *storeHarness) lastLoad() (LoadResult, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.loads) == 0 {
		return LoadResult{}, 0
	}
	return h.loads[len(h.loads)-1], len(h.loads)
}

// eventually polls cond for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *storeHarness) waitFor(t *testing.T, login, want string) {
	t.Helper()
	eventually(t, "Lookup("+login+") = "+want, func() bool {
		got, _ := h.store.Current().Lookup(login)
		return got == want
	})
}

func TestStoreReadyOnlyAfterFirstGoodLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "patients.csv")
	h := startStore(t, path) // the file does not exist yet
	eventually(t, "the missing file is reported", func() bool { _, n := h.lastLoad(); return n >= 1 })
	if h.store.Ready() {
		t.Fatal("ready without a file")
	}
	writeFile(t, path, "login,patientID\na,1\na,2\n")
	eventually(t, "the bad file is reported", func() bool { r, _ := h.lastLoad(); return r.Err != nil && !errors.Is(r.Err, os.ErrNotExist) })
	if h.store.Ready() || h.store.Current() != nil {
		t.Fatal("ready after a bad file")
	}
	writeFile(t, path, "login,patientID\na,1\n")
	h.waitFor(t, "a", "1")
	if !h.store.Ready() {
		t.Fatal("not ready after a good file")
	}
}

func TestStoreKeepsLastGoodList(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "patients.csv")
	writeFile(t, path, "login,patientID\nsecret.alice@example.com,PID-SECRET-1\n")
	h := startStore(t, path)
	h.waitFor(t, "secret.alice@example.com", "PID-SECRET-1")

	writeFile(t, path, "login,patientID\nsecret.alice@example.com,PID-SECRET-2\nsecret.bob@example.com,\n")
	eventually(t, "the bad file is reported", func() bool { r, _ := h.lastLoad(); return r.Err != nil })
	r, _ := h.lastLoad()
	var pe *ParseError
	if !errors.As(r.Err, &pe) || pe.Line != 3 {
		t.Errorf("load error = %v; want a ParseError on line 3", r.Err)
	}
	if r.Patients != 1 {
		t.Errorf("LoadResult.Patients = %d; want the 1 patient still served", r.Patients)
	}
	if got, _ := h.store.Current().Lookup("secret.alice@example.com"); got != "PID-SECRET-1" {
		t.Errorf("after a bad file, Lookup = %q; want the last good list's PID-SECRET-1", got)
	}
	logs := h.logs.String()
	if !bytes.Contains([]byte(logs), []byte(`line 3: empty patientID`)) {
		t.Errorf("logs do not report the bad line:\n%s", logs)
	}
	if bytes.Contains([]byte(logs), []byte("SECRET")) || bytes.Contains([]byte(logs), []byte("secret.")) {
		t.Errorf("logs hold patient data:\n%s", logs)
	}
}

func TestStoreFollowsChanges(t *testing.T) {
	cases := map[string]struct {
		reason string
		update func(t *testing.T, dir, path string, content string)
	}{
		"write in place": {
			update: func(t *testing.T, _, path, content string) { writeFile(t, path, content) },
		},
		"rename over": {
			reason: "how editors and most tools replace a file",
			update: func(t *testing.T, dir, path, content string) {
				tmp := filepath.Join(dir, "new.tmp")
				writeFile(t, tmp, content)
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
			},
		},
		"ConfigMap volume": {
			reason: "kubelet swaps the ..data symlink; the file itself is a symlink that never changes",
			update: func(t *testing.T, dir, _, content string) {
				if err := volumetest.Write(dir, map[string][]byte{"patients.csv": []byte(content)}); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "patients.csv")
			c.update(t, dir, path, "login,patientID\na,1\n")
			h := startStore(t, path)
			h.waitFor(t, "a", "1")
			for i, id := range []string{"2", "3"} {
				c.update(t, dir, path, "login,patientID\na,"+id+"\nb,"+id+"\n")
				h.waitFor(t, "a", id)
				if got := h.store.Current().Len(); got != 2 {
					t.Errorf("update %d: Len() = %d; want 2", i, got)
				}
			}
		})
	}
}

func TestStoreReloadSkipsUnchangedContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "patients.csv")
	writeFile(t, path, "login,patientID\na,1\n")
	s := NewStore(path, StoreOptions{})
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	first := s.Current()
	writeFile(t, path, "login,patientID\na,1\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if s.Current() != first {
		t.Error("the same content was parsed and swapped in again")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Package volumetest writes files into a directory the way kubelet updates a
// ConfigMap or Secret volume (its AtomicWriter), for tests of code that must
// follow such updates:
//
//	dir/..2026_01_02_15_04_05.123456789/<key>   the data, in a new directory per update
//	dir/..data -> ..2026_01_02_15_04_05.123456789   swapped by an atomic rename
//	dir/<key> -> ..data/<key>                   stable symlinks, created once
package volumetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const dataDir = "..data"

// Write replaces the contents of the volume in dir with files (key → content),
// atomically: a reader following dir/<key> sees the old version or the new one.
func Write(dir string, files map[string][]byte) error {
	old, err := os.Readlink(filepath.Join(dir, dataDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s link: %w", dataDir, err)
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	for key, content := range files {
		if strings.ContainsRune(key, '/') || strings.HasPrefix(key, "..") {
			return fmt.Errorf("invalid key %q", key)
		}
		if err := os.WriteFile(filepath.Join(ts, key), content, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", key, err)
		}
	}
	tmpLink := filepath.Join(dir, dataDir+"_tmp")
	if err := os.Symlink(filepath.Base(ts), tmpLink); err != nil {
		return fmt.Errorf("create %s: %w", tmpLink, err)
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDir)); err != nil {
		return fmt.Errorf("swap %s: %w", dataDir, err)
	}
	for key := range files {
		link := filepath.Join(dir, key)
		if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
			if err := os.Symlink(filepath.Join(dataDir, key), link); err != nil {
				return fmt.Errorf("link %s: %w", key, err)
			}
		}
	}
	// Drop links to keys that are gone, then the old data.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	for _, e := range entries {
		if _, keep := files[e.Name()]; keep || strings.HasPrefix(e.Name(), "..") {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove stale link %s: %w", e.Name(), err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			return fmt.Errorf("remove old data: %w", err)
		}
	}
	return nil
}

package volumetest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteSwapsDataLink(t *testing.T) {
	dir := t.TempDir()
	for i, content := range []string{"one", "two"} {
		if err := Write(dir, map[string][]byte{"key": []byte(content)}); err != nil {
			t.Fatalf("Write #%d: %v", i, err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "key"))
		if err != nil || string(got) != content {
			t.Fatalf("after Write #%d: read %q, %v; want %q", i, got, err, content)
		}
		if target, err := os.Readlink(filepath.Join(dir, "key")); err != nil || target != filepath.Join("..data", "key") {
			t.Errorf("key link = %q, %v; want ..data/key", target, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// key, ..data and one timestamped directory: the old one is gone.
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v; want key, ..data and one data directory", names)
	}
}

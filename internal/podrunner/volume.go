package podrunner

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// volume is a ConfigMap, Secret or emptyDir volume on disk.
type volume struct {
	source    corev1.Volume
	namespace string
	dir       string
	current   map[string][]byte // what is on disk
	written   bool
}

// sync writes the volume's files if its source changed.
func (v *volume) sync(ctx context.Context, c client.Client) error {
	if v.source.EmptyDir != nil {
		if v.written {
			return nil
		}
		v.written = true
		return os.MkdirAll(v.dir, 0o755)
	}
	files, err := v.files(ctx, c)
	if err != nil {
		return err
	}
	if v.written && maps.EqualFunc(files, v.current, bytes.Equal) {
		return nil
	}
	if err := atomicWrite(v.dir, files); err != nil {
		return fmt.Errorf("volume %s: %w", v.source.Name, err)
	}
	v.current, v.written = files, true
	return nil
}

// files reads the source object and projects its keys like kubelet does:
// every key, or only the listed items at their paths.
func (v *volume) files(ctx context.Context, c client.Client) (map[string][]byte, error) {
	var (
		name     string
		items    []corev1.KeyToPath
		optional bool
		data     map[string][]byte
	)
	key := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: v.namespace, Name: n} }
	switch {
	case v.source.ConfigMap != nil:
		src := v.source.ConfigMap
		name, items, optional = src.Name, src.Items, src.Optional != nil && *src.Optional
		cm := &corev1.ConfigMap{}
		if err := c.Get(ctx, key(name), cm); err != nil {
			if apierrors.IsNotFound(err) && optional {
				return map[string][]byte{}, nil
			}
			return nil, fmt.Errorf("volume %s: ConfigMap %s: %w", v.source.Name, name, err)
		}
		data = map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		maps.Copy(data, cm.BinaryData)
	case v.source.Secret != nil:
		src := v.source.Secret
		name, items, optional = src.SecretName, src.Items, src.Optional != nil && *src.Optional
		sec := &corev1.Secret{}
		if err := c.Get(ctx, key(name), sec); err != nil {
			if apierrors.IsNotFound(err) && optional {
				return map[string][]byte{}, nil
			}
			return nil, fmt.Errorf("volume %s: Secret %s: %w", v.source.Name, name, err)
		}
		data = sec.Data
	}
	if len(items) == 0 {
		return maps.Clone(data), nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("volume %s: %s has no key %q", v.source.Name, name, it.Key)
		}
		out[it.Path] = b
	}
	return out, nil
}

// atomicWrite lays out files as kubelet's AtomicWriter does:
//
//	dir/..2026_11_26_10_00_00.123456789/<files>
//	dir/..data -> ..2026_11_26_10_00_00.123456789
//	dir/<file> -> ..data/<file>
//
// and swaps "..data" with one rename, so a reader sees the old set of files
// or the new one, never a mix.
func atomicWrite(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ts := filepath.Join(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.000000000"))
	if err := os.Mkdir(ts, 0o755); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(ts, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
	}
	dataLink := filepath.Join(dir, "..data")
	old, _ := os.Readlink(dataLink)
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dataLink); err != nil {
		return err
	}
	for name := range files {
		top := firstElem(name)
		link := filepath.Join(dir, top)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", top), link); err != nil {
			return err
		}
	}
	// Keys that went away lose their symlinks, as with kubelet.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if len(n) >= 2 && n[:2] == ".." {
			continue
		}
		if _, ok := topLevel(files)[n]; !ok {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
	if old != "" && old != filepath.Base(ts) {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

func firstElem(p string) string {
	for i := range len(p) {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return p
}

func topLevel(files map[string][]byte) map[string]struct{} {
	out := map[string]struct{}{}
	for name := range files {
		out[firstElem(name)] = struct{}{}
	}
	return out
}

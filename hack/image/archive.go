package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations that name the image in index.json: containerd (and Docker)
// read the full name, skopeo's oci-archive:FILE:REF the short reference.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// blob is a content-addressed file under blobs/sha256/.
type blob struct {
	size int64
	open func() (io.ReadCloser, error)
}

type blobs map[v1.Hash]blob

func (b blobs) addBytes(data []byte) (v1.Hash, error) {
	h, n, err := v1.SHA256(bytes.NewReader(data))
	if err != nil {
		return v1.Hash{}, err
	}
	b[h] = blob{size: n, open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	return h, nil
}

// addImage adds an image's layers, config and manifest, and returns the
// Docker manifest.json entry that points at them.
func (b blobs) addImage(img v1.Image) (tarball.Descriptor, error) {
	var d tarball.Descriptor
	layers, err := img.Layers()
	if err != nil {
		return d, err
	}
	for _, l := range layers {
		h, err := l.Digest()
		if err != nil {
			return d, err
		}
		size, err := l.Size()
		if err != nil {
			return d, err
		}
		b[h] = blob{size: size, open: l.Compressed}
		d.Layers = append(d.Layers, blobPath(h))
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return d, err
	}
	h, err := b.addBytes(cfg)
	if err != nil {
		return d, err
	}
	d.Config = blobPath(h)
	m, err := img.RawManifest()
	if err != nil {
		return d, err
	}
	_, err = b.addBytes(m)
	return d, err
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// writeArchive writes an OCI image layout as a tar stream: oci-layout,
// index.json, the blobs, and (for a single platform) Docker's manifest.json,
// all with fixed timestamps and in a fixed order. One platform's image is
// listed in index.json directly; several go in an image index that
// index.json lists. It returns index.json's one descriptor.
func writeArchive(w io.Writer, tag name.Tag, images []platformImage, created time.Time) (v1.Descriptor, error) {
	if len(images) == 0 {
		return v1.Descriptor{}, errors.New("no images")
	}
	b := blobs{}
	var dockerManifest tarball.Manifest
	var top partial.Describable
	var platform *v1.Platform
	if len(images) == 1 {
		d, err := b.addImage(images[0].image)
		if err != nil {
			return v1.Descriptor{}, err
		}
		d.RepoTags = []string{tag.String()}
		dockerManifest = tarball.Manifest{d}
		top, platform = images[0].image, &images[0].platform
	} else {
		adds := make([]mutate.IndexAddendum, 0, len(images))
		for _, pi := range images {
			if _, err := b.addImage(pi.image); err != nil {
				return v1.Descriptor{}, err
			}
			p := pi.platform
			adds = append(adds, mutate.IndexAddendum{
				Add:        pi.image,
				Descriptor: v1.Descriptor{Platform: &p},
			})
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
		raw, err := idx.RawManifest()
		if err != nil {
			return v1.Descriptor{}, err
		}
		if _, err := b.addBytes(raw); err != nil {
			return v1.Descriptor{}, err
		}
		top = idx
	}

	desc, err := partial.Descriptor(top)
	if err != nil {
		return v1.Descriptor{}, err
	}
	desc.Platform = platform
	// go-containerregistry fills in artifactType for the OCI 1.1 referrers
	// API; an image's descriptor in index.json goes without, as Docker's.
	desc.ArtifactType = ""
	desc.Annotations = map[string]string{
		annotationContainerdName: fullName(tag),
		annotationRefName:        tag.TagStr(),
	}
	index := v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     []v1.Descriptor{*desc},
	}

	tw := tar.NewWriter(w)
	writeFile := func(name string, data []byte) error {
		return writeTarFile(tw, name, int64(len(data)), bytes.NewReader(data), created)
	}
	if err := writeFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return v1.Descriptor{}, err
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if err := writeFile("index.json", indexJSON); err != nil {
		return v1.Descriptor{}, err
	}
	if dockerManifest != nil {
		mj, err := json.Marshal(dockerManifest)
		if err != nil {
			return v1.Descriptor{}, err
		}
		if err := writeFile("manifest.json", mj); err != nil {
			return v1.Descriptor{}, err
		}
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: created}); err != nil {
			return v1.Descriptor{}, err
		}
	}
	hashes := make([]v1.Hash, 0, len(b))
	for h := range b {
		hashes = append(hashes, h)
	}
	sort.Slice(hashes, func(i, j int) bool { return hashes[i].String() < hashes[j].String() })
	for _, h := range hashes {
		if err := writeBlob(tw, h, b[h], created); err != nil {
			return v1.Descriptor{}, err
		}
	}
	return *desc, tw.Close()
}

func writeBlob(tw *tar.Writer, h v1.Hash, bl blob, created time.Time) error {
	rc, err := bl.open()
	if err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	defer func() { _ = rc.Close() }()
	if err := writeTarFile(tw, blobPath(h), bl.size, rc, created); err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	return nil
}

func writeTarFile(tw *tar.Writer, name string, size int64, r io.Reader, mtime time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: mtime}); err != nil {
		return err
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s: wrote %d bytes, want %d", name, n, size)
	}
	return nil
}

// fullName is the image's fully qualified name, as containerd records it:
// docker.io/library/tokenhook:dev for tokenhook:dev.
func fullName(tag name.Tag) string {
	reg := tag.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + tag.RepositoryStr() + ":" + tag.TagStr()
}

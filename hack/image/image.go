package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: distroless's "nonroot", which the hook server
// Deployments also run as.
const (
	nonrootUID  = 65532
	nonrootName = "nonroot"
	imageUser   = "65532:65532"
)

// Paths in the image.
const (
	managerPath    = "/manager"
	hookserverPath = "/hookserver"
	caBundlePath   = "/etc/ssl/certs/ca-certificates.crt"
)

// The account files of a distroless base: root, nobody and nonroot, none
// with a shell.
const (
	etcPasswd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	etcGroup = "root:x:0:\n" +
		"nobody:x:65534:\n" +
		"nonroot:x:65532:\n"
	// Go's resolver reads it: the hosts file first, then DNS.
	etcNsswitch = "hosts: files dns\n"
)

// imageLabels are the OCI labels that vary by build.
type imageLabels struct {
	version, revision, source, licenses string
}

// imageSpec is everything one platform's image is made of.
type imageSpec struct {
	platform            v1.Platform
	created             time.Time
	caBundle            []byte
	manager, hookserver []byte
	labels              imageLabels
}

// platformImage is one platform's image.
type platformImage struct {
	platform v1.Platform
	image    v1.Image
}

// entry is a file or folder in a layer.
type entry struct {
	path     string // absolute
	mode     int64  // permission bits (and sticky)
	uid, gid int
	dir      bool
	data     []byte
}

// baseEntries are what a distroless "static" base would bring: the CA
// bundle, the account files and the nonroot user's home, and /tmp.
func baseEntries(caBundle []byte) []entry {
	return []entry{
		{path: "/etc", mode: 0o755, dir: true},
		{path: "/etc/group", mode: 0o644, data: []byte(etcGroup)},
		{path: "/etc/nsswitch.conf", mode: 0o644, data: []byte(etcNsswitch)},
		{path: "/etc/passwd", mode: 0o644, data: []byte(etcPasswd)},
		{path: "/etc/ssl", mode: 0o755, dir: true},
		{path: "/etc/ssl/certs", mode: 0o755, dir: true},
		{path: caBundlePath, mode: 0o644, data: caBundle},
		{path: "/home", mode: 0o755, dir: true},
		{path: "/home/nonroot", mode: 0o700, uid: nonrootUID, gid: nonrootUID, dir: true},
		{path: "/tmp", mode: 0o1777, dir: true},
	}
}

// appEntries are the two binaries, owned by root so that the nonroot user
// cannot change them.
func appEntries(manager, hookserver []byte) []entry {
	return []entry{
		{path: hookserverPath, mode: 0o755, data: hookserver},
		{path: managerPath, mode: 0o755, data: manager},
	}
}

// buildImage assembles one platform's image: a base layer and a layer with
// the binaries (so that a new build changes only the second), an OCI config
// that runs /manager as 65532:65532, and OCI labels and annotations.
func buildImage(s imageSpec) (v1.Image, error) {
	base, err := layer(baseEntries(s.caBundle), s.created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	app, err := layer(appEntries(s.manager, s.hookserver), s.created)
	if err != nil {
		return nil, fmt.Errorf("binaries layer: %w", err)
	}
	labels := ociLabels(s.labels, s.created)
	cfg := &v1.ConfigFile{
		Architecture: s.platform.Architecture,
		OS:           s.platform.OS,
		Variant:      s.platform.Variant,
		Created:      v1.Time{Time: s.created},
		Config: v1.Config{
			User:       imageUser,
			Entrypoint: []string{managerPath},
			Env: []string{
				"PATH=/",
				"SSL_CERT_FILE=" + caBundlePath,
			},
			WorkingDir: "/",
			Labels:     labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{
			Created:   v1.Time{Time: s.created},
			CreatedBy: "hack/image: /etc/passwd, /etc/group, /etc/nsswitch.conf, " + caBundlePath + ", /home/nonroot, /tmp",
			Comment:   "FROM scratch: the files of a distroless static base",
		}},
		mutate.Addendum{Layer: app, History: v1.History{
			Created:   v1.Time{Time: s.created},
			CreatedBy: "hack/image: " + managerPath + " and " + hookserverPath + " (CGO_ENABLED=0 go build -trimpath)",
		}},
	)
	if err != nil {
		return nil, err
	}
	// The manifest carries the labels too, for registries and tools that only
	// read manifests.
	return mutate.Annotations(img, labels).(v1.Image), nil
}

// ociLabels are the org.opencontainers.image.* labels.
func ociLabels(l imageLabels, created time.Time) map[string]string {
	labels := map[string]string{
		"org.opencontainers.image.title":       "tokenhook",
		"org.opencontainers.image.description": "Kubernetes operator for Okta token inline hooks: /manager (entrypoint) and /hookserver",
		"org.opencontainers.image.created":     created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.version":     l.version,
	}
	if l.source != "" {
		labels["org.opencontainers.image.source"] = l.source
		labels["org.opencontainers.image.url"] = l.source
	}
	if l.revision != "" {
		labels["org.opencontainers.image.revision"] = l.revision
	}
	if l.licenses != "" {
		labels["org.opencontainers.image.licenses"] = l.licenses
	}
	return labels
}

// layer makes a gzip-compressed OCI layer of entries, with every timestamp
// set to mtime and in path order, so that its digest depends on the content
// alone.
func layer(entries []entry, mtime time.Time) (v1.Layer, error) {
	entries = append([]entry(nil), entries...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].path < entries[j].path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if !strings.HasPrefix(e.path, "/") || path.Clean(e.path) != e.path {
			return nil, fmt.Errorf("layer path %q is not absolute and clean", e.path)
		}
		h := &tar.Header{
			Name:    strings.TrimPrefix(e.path, "/"),
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.gid,
			Uname:   userName(e.uid),
			Gname:   userName(e.gid),
			ModTime: mtime,
		}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.BestCompression),
		tarball.WithCompressedCaching,
	)
}

func userName(id int) string {
	switch id {
	case 0:
		return "root"
	case nonrootUID:
		return nonrootName
	default:
		return ""
	}
}

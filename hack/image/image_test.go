package main

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var testCreated = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             testCreated,
		NotAfter:              testCreated.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func testImage(t *testing.T, p v1.Platform, ca []byte) platformImage {
	t.Helper()
	img, err := buildImage(imageSpec{
		platform:   p,
		created:    testCreated,
		caBundle:   ca,
		manager:    []byte("manager for " + p.String()),
		hookserver: []byte("hookserver for " + p.String()),
		labels:     imageLabels{version: "v1.2.3", revision: "abc123", source: "https://github.com/tokenhook/tokenhook"},
	})
	if err != nil {
		t.Fatalf("buildImage: %v", err)
	}
	return platformImage{platform: p, image: img}
}

func archive(t *testing.T, tag string, images ...platformImage) []byte {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := writeArchive(&buf, ref, images, testCreated); err != nil {
		t.Fatalf("writeArchive: %v", err)
	}
	return buf.Bytes()
}

// untar extracts an archive into a new folder and returns it.
func untar(t *testing.T, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(testCreated) {
			t.Errorf("%s: mtime %v, want %v", h.Name, h.ModTime, testCreated)
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// imageFiles flattens an image's file system into its headers and contents.
func imageFiles(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimSuffix(h.Name, "/")] = h
	}
}

func TestSinglePlatformArchive(t *testing.T) {
	ca := testCA(t)
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	data := archive(t, "tokenhook:dev", testImage(t, amd64, ca))

	t.Run("deterministic", func(t *testing.T) {
		again := archive(t, "tokenhook:dev", testImage(t, amd64, ca))
		if !bytes.Equal(data, again) {
			t.Fatal("two builds of the same inputs differ")
		}
	})

	t.Run("docker manifest.json", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "image.tar")
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag("tokenhook:dev")
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(f, &tag)
		if err != nil {
			t.Fatalf("read as a docker archive: %v", err)
		}
		if err := validate.Image(img); err != nil {
			t.Fatalf("invalid image: %v", err)
		}
	})

	dir := untar(t, data)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("read the OCI layout: %v", err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("invalid OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests, want 1", len(im.Manifests))
	}
	desc := im.Manifests[0]
	wantAnn := map[string]string{annotationContainerdName: "docker.io/library/tokenhook:dev", annotationRefName: "dev"}
	if diff := cmp.Diff(wantAnn, desc.Annotations); diff != "" {
		t.Errorf("index.json annotations (-want +got):\n%s", diff)
	}
	if desc.MediaType != types.OCIManifestSchema1 || desc.Platform == nil || desc.Platform.Architecture != "amd64" {
		t.Errorf("index.json descriptor = %+v, want an OCI manifest for linux/amd64", desc)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("config", func(t *testing.T) {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" {
			t.Errorf("user = %q, want 65532:65532", cf.Config.User)
		}
		if diff := cmp.Diff([]string{"/manager"}, cf.Config.Entrypoint); diff != "" {
			t.Errorf("entrypoint (-want +got):\n%s", diff)
		}
		if !cf.Created.Equal(testCreated) || cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("created %v on %s/%s, want %v on linux/amd64", cf.Created, cf.OS, cf.Architecture, testCreated)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.version":  "v1.2.3",
			"org.opencontainers.image.revision": "abc123",
			"org.opencontainers.image.source":   "https://github.com/tokenhook/tokenhook",
			"org.opencontainers.image.created":  "2026-01-02T03:04:05Z",
		} {
			if got := cf.Config.Labels[k]; got != want {
				t.Errorf("label %s = %q, want %q", k, got, want)
			}
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.Annotations["org.opencontainers.image.revision"] != "abc123" {
			t.Errorf("manifest annotations = %v, want the labels", m.Annotations)
		}
		if len(m.Layers) != 2 || m.Layers[0].MediaType != types.OCILayer {
			t.Errorf("layers = %+v, want 2 gzipped OCI layers", m.Layers)
		}
	})

	t.Run("files", func(t *testing.T) {
		files := imageFiles(t, img)
		cases := map[string]struct {
			mode     int64
			uid      int
			dir      bool
			contains string
		}{
			"/manager":                           {mode: 0o755, contains: "manager for linux/amd64"},
			"/hookserver":                        {mode: 0o755, contains: "hookserver for linux/amd64"},
			"/etc/ssl/certs/ca-certificates.crt": {mode: 0o644, contains: string(ca)},
			"/etc/passwd":                        {mode: 0o644, contains: "nonroot:x:65532:65532:"},
			"/etc/group":                         {mode: 0o644, contains: "nonroot:x:65532:"},
			"/etc/nsswitch.conf":                 {mode: 0o644, contains: "hosts: files dns"},
			"/home/nonroot":                      {mode: 0o700, uid: 65532, dir: true},
			"/tmp":                               {mode: 0o1777, dir: true},
		}
		for path, want := range cases {
			h, ok := files[path]
			if !ok {
				t.Errorf("%s is missing", path)
				continue
			}
			if h.Mode != want.mode || h.Uid != want.uid || (h.Typeflag == tar.TypeDir) != want.dir {
				t.Errorf("%s: mode %o uid %d type %c, want mode %o uid %d dir %v", path, h.Mode, h.Uid, h.Typeflag, want.mode, want.uid, want.dir)
			}
		}
		rc := mutate.Extract(img)
		defer func() { _ = rc.Close() }()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			want := cases["/"+strings.TrimSuffix(h.Name, "/")].contains
			if want == "" {
				continue
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), want) {
				t.Errorf("%s does not hold %q", h.Name, want)
			}
		}
	})
}

func TestMultiPlatformArchive(t *testing.T) {
	ca := testCA(t)
	platforms := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	var images []platformImage
	for _, p := range platforms {
		images = append(images, testImage(t, p, ca))
	}
	data := archive(t, "registry.example.com:5000/team/tokenhook:v1", images...)
	dir := untar(t, data)
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a multi-platform archive has a manifest.json (err %v); docker load would take one platform only", err)
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(top); err != nil {
		t.Fatalf("invalid OCI layout: %v", err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].MediaType != types.OCIImageIndex {
		t.Fatalf("index.json = %+v, want one image index", tm.Manifests)
	}
	if got := tm.Manifests[0].Annotations[annotationContainerdName]; got != "registry.example.com:5000/team/tokenhook:v1" {
		t.Errorf("image name = %q", got)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if d.Platform == nil || d.Platform.Architecture != cf.Architecture {
			t.Errorf("descriptor platform %v, config architecture %s", d.Platform, cf.Architecture)
		}
		got = append(got, cf.OS+"/"+cf.Architecture)
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, got); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
}

func TestReadCABundle(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pem")
	if err := os.WriteFile(good, testCA(t), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("no certificates here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		path string
		want string // a part of the error; "" for none
	}{
		"bundle":       {path: good},
		"missing":      {path: filepath.Join(dir, "missing.pem"), want: "apt-get install ca-certificates"},
		"no PEM certs": {path: empty, want: "no PEM certificates"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := readCABundle(c.path)
			if c.want == "" && err != nil {
				t.Fatalf("readCABundle: %v", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("readCABundle = %v, want an error with %q", err, c.want)
			}
		})
	}
}

func TestReadStaticBinaryRejectsNonELF(t *testing.T) {
	f := filepath.Join(t.TempDir(), "manager")
	if err := os.WriteFile(f, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := readStaticBinary(f, v1.Platform{OS: "linux", Architecture: "amd64"})
	if err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Fatalf("readStaticBinary = %v, want a not-an-ELF error", err)
	}
}

func TestParseOptions(t *testing.T) {
	cases := map[string]struct {
		args    []string
		env     map[string]string
		want    string // a part of the error; "" for none
		created time.Time
	}{
		"defaults":            {args: nil, created: time.Unix(0, 0).UTC()},
		"SOURCE_DATE_EPOCH":   {env: map[string]string{"SOURCE_DATE_EPOCH": "1767323045"}, created: time.Unix(1767323045, 0).UTC()},
		"--created wins":      {args: []string{"--created=2026-01-02T03:04:05Z"}, env: map[string]string{"SOURCE_DATE_EPOCH": "1"}, created: testCreated},
		"bad epoch":           {env: map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, want: "SOURCE_DATE_EPOCH"},
		"bad tag":             {args: []string{"--tag=Tokenhook:dev"}, want: "--tag"},
		"windows":             {args: []string{"--platform=windows/amd64"}, want: "only linux"},
		"bad platform":        {args: []string{"--platform=amd64"}, want: "os/arch"},
		"one binary":          {args: []string{"--manager-binary=/bin/true"}, want: "both"},
		"binaries, platforms": {args: []string{"--manager-binary=a", "--hookserver-binary=b", "--platform=linux/amd64,linux/arm64"}, want: "one --platform"},
		"stray argument":      {args: []string{"extra"}, want: "unexpected"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o, err := parseOptions(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("parseOptions = %v, want an error with %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseOptions: %v", err)
			}
			if !o.created.Equal(c.created) {
				t.Errorf("created = %v, want %v", o.created, c.created)
			}
		})
	}
}

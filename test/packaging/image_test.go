package packaging

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// TestImageTarball builds the daemonless image (hack/image, as 'make
// image-tarball' does) and checks what a container runtime would run.
func TestImageTarball(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(hostCABundle); err != nil {
		testenv.Unavailable(t, errors.New("no CA bundle at "+hostCABundle+": install Debian's ca-certificates package"))
	}
	out := filepath.Join(t.TempDir(), "tokenhook-image.tar")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const epoch = 1767225600 // 2026-01-01T00:00:00Z
	if _, err := run(ctx, nil, []string{"SOURCE_DATE_EPOCH=1767225600"}, "go", "run", "./hack/image",
		"--output", out, "--tag", "tokenhook:packaging-test", "--version", "v0.0.0-test", "--revision", "deadbeef"); err != nil {
		t.Fatal(err)
	}

	tag, err := name.NewTag("tokenhook:packaging-test")
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("read the tarball as 'docker load' does: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("the image is inconsistent (digests, sizes, diff IDs): %v", err)
	}

	t.Run("OCI layout", func(t *testing.T) {
		dir := t.TempDir()
		untar(t, out, dir)
		idx, err := layout.ImageIndexFromPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(im.Manifests) != 1 {
			t.Fatalf("index.json lists %d manifests, want 1", len(im.Manifests))
		}
		oci, err := idx.Image(im.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(oci); err != nil {
			t.Fatalf("the OCI image is inconsistent: %v", err)
		}
		// manifest.json and index.json describe the same config and layers.
		want, err := img.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		if got, err := oci.ConfigName(); err != nil || got != want {
			t.Errorf("index.json's image has config %s (%v), manifest.json's %s", got, err, want)
		}
		if got := im.Manifests[0].Annotations["io.containerd.image.name"]; got != "docker.io/library/tokenhook:packaging-test" {
			t.Errorf("io.containerd.image.name = %q", got)
		}
	})

	t.Run("config", func(t *testing.T) {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" {
			t.Errorf("user = %q, want 65532:65532 (non-root)", cf.Config.User)
		}
		if diff := cmp.Diff([]string{"/manager"}, cf.Config.Entrypoint); diff != "" {
			t.Errorf("entrypoint (-want +got):\n%s", diff)
		}
		if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
			t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
		}
		if !cf.Created.Equal(time.Unix(epoch, 0)) {
			t.Errorf("created = %v, want SOURCE_DATE_EPOCH %v", cf.Created, time.Unix(epoch, 0).UTC())
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.title":    "tokenhook",
			"org.opencontainers.image.version":  "v0.0.0-test",
			"org.opencontainers.image.revision": "deadbeef",
			"org.opencontainers.image.source":   "https://github.com/tokenhook/tokenhook",
			"org.opencontainers.image.created":  "2026-01-01T00:00:00Z",
		} {
			if got := cf.Config.Labels[k]; got != want {
				t.Errorf("label %s = %q, want %q", k, got, want)
			}
		}
	})

	files := filesOf(t, img)
	t.Run("binaries", func(t *testing.T) {
		dir := t.TempDir()
		for _, bin := range []struct{ path, usage string }{
			{"/manager", "-hookserver-image"},
			{"/hookserver", "--patients"},
		} {
			f, ok := files[bin.path]
			if !ok {
				t.Errorf("%s is missing", bin.path)
				continue
			}
			if f.header.Mode != 0o755 || f.header.Uid != 0 {
				t.Errorf("%s: mode %o, owner %d; want 755 and root (not writable by 65532)", bin.path, f.header.Mode, f.header.Uid)
			}
			e, err := elf.NewFile(bytes.NewReader(f.data))
			if err != nil {
				t.Fatalf("%s: %v", bin.path, err)
			}
			if slices.ContainsFunc(e.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
				t.Errorf("%s is dynamically linked: it cannot run FROM SCRATCH", bin.path)
			}
			_ = e.Close()
			// The binary runs here, as in the image.
			exe := filepath.Join(dir, filepath.Base(bin.path))
			if err := os.WriteFile(exe, f.data, 0o755); err != nil {
				t.Fatal(err)
			}
			usage, err := runRetryingBusy(exe, "--help")
			if err != nil || !strings.Contains(string(usage), bin.usage) {
				t.Errorf("%s --help: %v\n%s", bin.path, err, usage)
			}
		}
	})

	t.Run("CA bundle and users", func(t *testing.T) {
		host, err := os.ReadFile(hostCABundle)
		if err != nil {
			t.Fatal(err)
		}
		if ca := files[hostCABundle]; ca == nil || !bytes.Equal(ca.data, host) {
			t.Errorf("%s in the image differs from the host's", hostCABundle)
		}
		passwd, group := files["/etc/passwd"], files["/etc/group"]
		if passwd == nil || !regexp.MustCompile(`(?m)^nonroot:x:65532:65532:`).Match(passwd.data) {
			t.Errorf("/etc/passwd lacks the nonroot user 65532")
		}
		if group == nil || !regexp.MustCompile(`(?m)^nonroot:x:65532:`).Match(group.data) {
			t.Errorf("/etc/group lacks the nonroot group 65532")
		}
		if home := files["/home/nonroot"]; home == nil || home.header.Uid != 65532 {
			t.Errorf("/home/nonroot is missing or not owned by 65532")
		}
	})
}

type imageFile struct {
	header *tar.Header
	data   []byte
}

// filesOf flattens an image's layers into its file system.
func filesOf(t *testing.T, img v1.Image) map[string]*imageFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	files := map[string]*imageFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimSuffix(h.Name, "/")] = &imageFile{header: h, data: data}
	}
}

// untar extracts a tar file into dir.
func untar(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(target, filepath.Clean(dir)+string(filepath.Separator)) {
			t.Fatalf("tar entry %q leaves the folder", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(target, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		out, err := os.Create(target)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDockerfile checks the Dockerfile without a container engine: its final
// stage is distroless and non-root and runs /manager with /hookserver beside
// it, and its build context (.dockerignore) holds every package the two
// binaries import.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // the instructions of each stage
	sc := bufio.NewScanner(bytes.NewReader(bytes.ReplaceAll(data, []byte("\\\n"), nil)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], line)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("the Dockerfile has %d stages, want a builder and a runtime stage", len(stages))
	}
	builder, final := strings.Join(stages[0], "\n"), stages[len(stages)-1]
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/manager", "./cmd/hookserver", "go build"} {
		if !strings.Contains(builder, want) {
			t.Errorf("the builder stage lacks %q", want)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`^FROM gcr\.io/distroless/static[-\w]*:nonroot$`),
		regexp.MustCompile(`^COPY --from=\S+ .*/manager .*/hookserver /$`),
		regexp.MustCompile(`^USER 65532:65532$`),
		regexp.MustCompile(`^ENTRYPOINT \["/manager"\]$`),
	} {
		if !slices.ContainsFunc(final, want.MatchString) {
			t.Errorf("the final stage has no line matching %s:\n%s", want, strings.Join(final, "\n"))
		}
	}

	// The builder's Go is at least what go.mod asks for.
	goMod, err := os.ReadFile(repoPath("go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	modGo := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	dockerGo := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\d+\.\d+)`).FindSubmatch(data)
	if modGo == nil || dockerGo == nil || versionLess(string(dockerGo[1]), string(modGo[1])) {
		t.Errorf("the Dockerfile's GO_VERSION %q is older than go.mod's go %q", dockerGo, modGo)
	}

	t.Run("build context", func(t *testing.T) {
		allowed := dockerignoreAllowlist(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := run(ctx, nil, nil, "go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/manager", "./cmd/hookserver")
		if err != nil {
			t.Fatal(err)
		}
		const module = "github.com/tokenhook/tokenhook/"
		for _, pkg := range strings.Fields(out) {
			rel, ok := strings.CutPrefix(pkg, module)
			if !ok {
				continue
			}
			top, _, _ := strings.Cut(rel, "/")
			if !allowed[top] {
				t.Errorf("the binaries import %s, but .dockerignore keeps %s/ out of the build context", pkg, top)
			}
		}
	})
}

// dockerignoreAllowlist reads .dockerignore, which must exclude everything
// ("*") and then allow folders back ("!api/"), and returns those folders.
func dockerignoreAllowlist(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(repoPath(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	sawAll := false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "*":
			sawAll = true
		case strings.HasPrefix(line, "!") && strings.HasSuffix(line, "/"):
			allowed[strings.TrimSuffix(strings.TrimPrefix(line, "!"), "/")] = true
		}
	}
	if !sawAll {
		t.Fatal(".dockerignore does not start from '*' (an allowlist)")
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if !strings.Contains(string(data), "!"+f) {
			t.Errorf(".dockerignore keeps %s out of the build context", f)
		}
	}
	return allowed
}

// versionLess compares "major.minor" versions.
func versionLess(a, b string) bool {
	parse := func(s string) (int, int) {
		major, minor, _ := strings.Cut(s, ".")
		x, _ := strconv.Atoi(major)
		y, _ := strconv.Atoi(minor)
		return x, y
	}
	am, an := parse(a)
	bm, bn := parse(b)
	return am < bm || (am == bm && an < bn)
}

// runRetryingBusy runs a binary just written. A fork elsewhere in this
// process can hold the file open for writing a moment longer, and exec then
// fails with ETXTBSY (golang/go#22315): that is retried.
func runRetryingBusy(exe string, args ...string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		out, err := exec.Command(exe, args...).CombinedOutput()
		if !errors.Is(err, syscall.ETXTBSY) || attempt == 20 {
			return out, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

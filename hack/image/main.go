// Command image builds tokenhook's container image without a container engine
// and writes it as an OCI image tarball.
//
// The image holds both binaries, /manager (the entrypoint) and /hookserver
// (which the operator's hook server Deployments run), compiled static
// (CGO_ENABLED=0) for each platform asked for. It is built FROM SCRATCH, as
// no base image can be pulled on a machine without registry access; the few
// files a distroless "static" base would bring are added instead:
//
//   - /etc/ssl/certs/ca-certificates.crt, copied from the build host (Debian's
//     ca-certificates package), for the manager's HTTPS calls to Okta;
//   - /etc/passwd and /etc/group with root, nobody and nonroot (65532);
//   - /etc/nsswitch.conf, /home/nonroot and /tmp.
//
// The config runs as user 65532:65532 with the entrypoint /manager. Every
// timestamp is fixed (SOURCE_DATE_EPOCH, else --created, else the Unix epoch)
// and every archive is written in a fixed order, so the same binaries always
// give the same image digest.
//
// The output is an OCI image layout in a tar file, with a Docker
// manifest.json beside it (single platform), so each of these loads it:
//
//	docker load -i bin/tokenhook-image.tar
//	podman load -i bin/tokenhook-image.tar
//	skopeo copy oci-archive:bin/tokenhook-image.tar docker://registry.example.com/tokenhook:v1
//	crane push bin/tokenhook-image.tar registry.example.com/tokenhook:v1
//
// Usage (from the repository; see 'make image-tarball'):
//
//	go run ./hack/image --output bin/tokenhook-image.tar --tag tokenhook:dev
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultCABundle is where Debian's ca-certificates package puts the bundle.
const DefaultCABundle = "/etc/ssl/certs/ca-certificates.crt"

// options is the command line, parsed.
type options struct {
	output        string
	tag           name.Tag
	platforms     []v1.Platform
	managerBin    string
	hookserverBin string
	caBundle      string
	created       time.Time
	goCmd         string
	labels        imageLabels
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	ca, err := readCABundle(o.caBundle)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "tokenhook-image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()

	images := make([]platformImage, 0, len(o.platforms))
	for _, p := range o.platforms {
		bins, err := binaries(ctx, o, p, work, stderr)
		if err != nil {
			return err
		}
		img, err := buildImage(imageSpec{
			platform:   p,
			created:    o.created,
			caBundle:   ca,
			manager:    bins.manager,
			hookserver: bins.hookserver,
			labels:     o.labels,
		})
		if err != nil {
			return fmt.Errorf("assemble the %s image: %w", p, err)
		}
		images = append(images, platformImage{platform: p, image: img})
	}
	sum, err := writeArchiveFile(o.output, o.tag, images, o.created)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s, %s, %s\n", o.output, o.tag, platformList(o.platforms), sum)
	fmt.Fprintf(stdout, "load it with 'docker load -i %[1]s' or 'podman load -i %[1]s', or push it with\n"+
		"'skopeo copy oci-archive:%[1]s docker://<registry>/<repository>:<tag>'\n", o.output)
	return nil
}

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o                                  options
		tag, platforms, created            string
		version, revision, source, licence string
	)
	fs.StringVar(&o.output, "output", "bin/tokenhook-image.tar", "the OCI image tarball to write")
	fs.StringVar(&tag, "tag", "tokenhook:dev", "the image's name and tag, as 'docker load' will name it")
	fs.StringVar(&platforms, "platform", "linux/"+runtime.GOARCH,
		"comma-separated platforms (os/arch[/variant]); several make a multi-platform image index")
	fs.StringVar(&o.managerBin, "manager-binary", "", "a prebuilt static manager binary, instead of building ./cmd/manager (one platform only)")
	fs.StringVar(&o.hookserverBin, "hookserver-binary", "", "a prebuilt static hookserver binary, instead of building ./cmd/hookserver (one platform only)")
	fs.StringVar(&o.caBundle, "ca-bundle", DefaultCABundle, "the PEM CA bundle to install as "+DefaultCABundle)
	fs.StringVar(&created, "created", "", "the image's creation time (RFC 3339); default $SOURCE_DATE_EPOCH, else the Unix epoch")
	fs.StringVar(&o.goCmd, "go", "go", "the go command that builds the binaries")
	fs.StringVar(&version, "version", "dev", "the org.opencontainers.image.version label")
	fs.StringVar(&revision, "revision", "", "the org.opencontainers.image.revision label (a git commit)")
	fs.StringVar(&source, "source", "https://github.com/tokenhook/tokenhook", "the org.opencontainers.image.source label")
	fs.StringVar(&licence, "licenses", "", "the org.opencontainers.image.licenses label (an SPDX expression)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.output == "" {
		return nil, errors.New("--output is empty")
	}
	t, err := name.NewTag(tag)
	if err != nil {
		return nil, fmt.Errorf("--tag %q: %w (want e.g. tokenhook:dev or registry.example.com/tokenhook:v1)", tag, err)
	}
	o.tag = t
	for _, s := range strings.Split(platforms, ",") {
		p, err := parsePlatform(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("--platform: %w", err)
		}
		o.platforms = append(o.platforms, p)
	}
	if (o.managerBin == "") != (o.hookserverBin == "") {
		return nil, errors.New("give both --manager-binary and --hookserver-binary, or neither")
	}
	if o.managerBin != "" && len(o.platforms) != 1 {
		return nil, errors.New("prebuilt binaries make a single-platform image: give one --platform")
	}
	if o.created, err = creationTime(created, getenv("SOURCE_DATE_EPOCH")); err != nil {
		return nil, err
	}
	o.labels = imageLabels{version: version, revision: revision, source: source, licenses: licence}
	return &o, nil
}

// parsePlatform parses os/arch[/variant]; only Linux images make sense here.
func parsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return v1.Platform{}, fmt.Errorf("%q: want os/arch[/variant], e.g. linux/amd64", s)
	}
	if parts[0] != "linux" {
		return v1.Platform{}, fmt.Errorf("%q: only linux images are supported", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func platformList(ps []v1.Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// creationTime is --created, else SOURCE_DATE_EPOCH, else the Unix epoch: a
// fixed time, so that rebuilding the same binaries gives the same digest.
func creationTime(flagValue, sourceDateEpoch string) (time.Time, error) {
	if flagValue != "" {
		t, err := time.Parse(time.RFC3339, flagValue)
		if err != nil {
			return time.Time{}, fmt.Errorf("--created: %w", err)
		}
		return t.UTC().Truncate(time.Second), nil
	}
	if sourceDateEpoch != "" {
		secs, err := strconv.ParseInt(sourceDateEpoch, 10, 64)
		if err != nil || secs < 0 {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since the Unix epoch", sourceDateEpoch)
		}
		return time.Unix(secs, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

// writeArchiveFile writes the archive next to path and renames it into place,
// so that a failed build never leaves a truncated tarball behind. It returns
// a one-line summary of what it wrote.
func writeArchiveFile(path string, tag name.Tag, images []platformImage, created time.Time) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tokenhook-image-*.tar")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	top, err := writeArchive(f, tag, images, created)
	if err != nil {
		_ = f.Close()
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return "", err
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s, %.1f MB", top.MediaType, top.Digest, float64(st.Size())/1e6), nil
}

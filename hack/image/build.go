package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// modulePath is the module the binaries are built from.
const modulePath = "github.com/tokenhook/tokenhook"

// The packages of the two binaries, relative to the module.
const (
	managerPkg    = "./cmd/manager"
	hookserverPkg = "./cmd/hookserver"
)

// builtBinaries are the two binaries of one platform, read into memory.
type builtBinaries struct {
	manager, hookserver []byte
}

// binaries returns the prebuilt binaries, or builds both for p under work.
func binaries(ctx context.Context, o *options, p v1.Platform, work string, stderr io.Writer) (*builtBinaries, error) {
	managerPath, hookserverPath := o.managerBin, o.hookserverBin
	if managerPath == "" {
		dir, err := moduleDir(ctx, o.goCmd)
		if err != nil {
			return nil, err
		}
		out := filepath.Join(work, strings.ReplaceAll(p.String(), "/", "_"))
		managerPath, hookserverPath = filepath.Join(out, "manager"), filepath.Join(out, "hookserver")
		for pkg, bin := range map[string]string{managerPkg: managerPath, hookserverPkg: hookserverPath} {
			if err := goBuild(ctx, o.goCmd, dir, pkg, bin, p, stderr); err != nil {
				return nil, err
			}
		}
	}
	var b builtBinaries
	var err error
	if b.manager, err = readStaticBinary(managerPath, p); err != nil {
		return nil, err
	}
	if b.hookserver, err = readStaticBinary(hookserverPath, p); err != nil {
		return nil, err
	}
	return &b, nil
}

// moduleDir is the folder of the tokenhook module that the go command sees
// from the current directory.
func moduleDir(ctx context.Context, goCmd string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "list", "-m", "-f", "{{.Path}}\t{{.Dir}}").Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(exitErr.Stderr))
		}
		return "", fmt.Errorf("find the %s module (run from its checkout): %w", modulePath, err)
	}
	path, dir, ok := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if !ok || path != modulePath {
		return "", fmt.Errorf("the current module is %q, not %s: run from the tokenhook checkout", path, modulePath)
	}
	return dir, nil
}

// goBuild compiles pkg into out for p: static (no cgo), without local paths
// (-trimpath) and without symbol tables, the same as the Dockerfile does.
func goBuild(ctx context.Context, goCmd, dir, pkg, out string, p v1.Platform, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if p.Architecture == "arm" && p.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s: %w", pkg, p, err)
	}
	return nil
}

// elfMachines maps GOARCH to the ELF machine its binaries carry.
var elfMachines = map[string]elf.Machine{
	"386":     elf.EM_386,
	"amd64":   elf.EM_X86_64,
	"arm":     elf.EM_ARM,
	"arm64":   elf.EM_AARCH64,
	"ppc64le": elf.EM_PPC64,
	"riscv64": elf.EM_RISCV,
	"s390x":   elf.EM_S390,
}

// readStaticBinary reads an executable after checking that it can run in an
// image without a libc: a statically linked ELF file for p's architecture.
func readStaticBinary(path string, p v1.Platform) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: not an ELF executable: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return nil, fmt.Errorf("%s: ELF type %s, not an executable", path, f.Type)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("%s is dynamically linked: build it with CGO_ENABLED=0", path)
		}
	}
	if want, ok := elfMachines[p.Architecture]; ok && f.Machine != want {
		return nil, fmt.Errorf("%s is built for %s, not %s", path, f.Machine, p)
	}
	return data, nil
}

// readCABundle reads the CA bundle for /etc/ssl/certs/ca-certificates.crt and
// checks that it holds certificates Go can use.
func readCABundle(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("CA bundle %s not found: the image needs it for HTTPS calls to Okta. "+
			"Install it with 'apt-get install ca-certificates' (Debian, Ubuntu), or give another PEM bundle with --ca-bundle", path)
	}
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		// Count what Go's TLS would trust; like x509.CertPool, skip the rest.
		if block.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(block.Bytes); err == nil {
				n++
			}
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificates that Go can parse", path)
	}
	return data, nil
}

// Command node runs the real single-node cluster of internal/realnode.
//
//	go run ./hack/node up [--image bin/tokenhook-image.tar]   # until Ctrl-C, then tears down
//	go run ./hack/node down                                   # tears down a node left by a crash
//
// 'make test-node' runs the node tests on it and always calls 'down' after.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tokenhook/tokenhook/internal/realnode"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: node up|down [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("state-dir", "", "the node's state folder (default /var/lib/tokenhook-node)")
	var images []string
	fs.Func("image", "an image archive to import into containerd (repeatable)", func(v string) error {
		images = append(images, v)
		return nil
	})
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "down":
		d := *dir
		if d == "" {
			d = "/var/lib/tokenhook-node"
		}
		return realnode.Teardown(d, os.Stderr)
	case "up":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		out, err := exec.Command("hack/node/binaries.sh").Output()
		if err != nil {
			return fmt.Errorf("hack/node/binaries.sh: %w", err)
		}
		n, err := realnode.Start(ctx, realnode.Options{
			Bin: strings.TrimSpace(string(out)), StateDir: *dir, Images: images, Progress: os.Stderr,
		})
		if err != nil {
			return err
		}
		fmt.Printf("export KUBECONFIG=%s\n", n.Kubeconfig)
		fmt.Fprintln(os.Stderr, "node: up; Ctrl-C tears it down")
		<-ctx.Done()
		return n.Stop()
	}
	return fmt.Errorf("unknown command %q: want up or down", args[0])
}

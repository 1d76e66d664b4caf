// Command kubectl-tokenhook is the kubectl tokenhook plugin: put it on the
// PATH and run kubectl tokenhook preview or kubectl tokenhook status. The
// commands live in package kubectlplugin.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tokenhook/tokenhook/kubectlplugin"
)

func main() {
	// The client logs nothing worth a CLI's stderr; without a logger it
	// would warn that none was set.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := kubectlplugin.NewCmdTokenHook(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}).ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1) // cobra has printed the error
	}
}

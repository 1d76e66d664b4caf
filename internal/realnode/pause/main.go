// Command pause is the node's sandbox (pause) image: it holds a pod's
// namespaces open and does nothing else until it is told to stop. Nothing
// can be pulled on the test machine, so it is built here and imported.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	// As PID 1 of the sandbox, also reap orphans re-parented to it.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGCHLD)
	<-stop
}

//go:build tools

// Package tools pins the control-plane binaries that envtest needs, so that
// hack/envtest.sh can build them from the Go module proxy alone.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)

#!/usr/bin/env bash
# Provides the real node's Kubernetes binaries (etcd, kube-apiserver, kubectl
# from hack/envtest.sh, plus kubelet, kube-controller-manager, kube-scheduler
# and kube-proxy) and prints their folder. Progress goes to stderr.
#
# Like the control plane, they are built once from the Go module proxy
# (hack/tools pins them) and kept in bin/k8s/<version>/ and in a per-user
# cache outside the work tree, so a fresh clone copies instead of rebuilding.
set -euo pipefail
cd "$(dirname "$0")/../.."

K8S_VERSION=${K8S_VERSION:-1.37.2}             # must match hack/tools/go.mod
NODE_BINARIES="kubelet kube-controller-manager kube-scheduler kube-proxy"
DEST=$(KUBEBUILDER_ASSETS= hack/envtest.sh)   # the control plane, and the folder
CACHE=${TOKENHOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenhook}/k8s/$K8S_VERSION

say() { echo "node binaries: $*" >&2; }
complete() { for b in $NODE_BINARIES; do [ -x "$1/$b" ] || return 1; done; }

if complete "$DEST"; then echo "$DEST"; exit 0; fi
if complete "$CACHE"; then
  say "copying from $CACHE"
  for b in $NODE_BINARIES; do cp "$CACHE/$b" "$DEST/"; done
  echo "$DEST"; exit 0
fi

start=$(date +%s)
say "building $NODE_BINARIES v$K8S_VERSION from source:"
say "  about 8-10 minutes on 2 cores with a cold Go cache, a minute with a warm one"
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $p.gitTreeState=clean"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkgs=""
for b in $NODE_BINARIES; do pkgs="$pkgs k8s.io/kubernetes/cmd/$b"; done
# shellcheck disable=SC2086
(cd hack/tools && go build -trimpath -ldflags="$ld" -o "$tmp/" $pkgs)
mkdir -p "$CACHE"
for b in $NODE_BINARIES; do cp "$tmp/$b" "$CACHE/"; mv "$tmp/$b" "$DEST/"; done
say "built in $(( $(date +%s) - start ))s into $DEST"
echo "$DEST"

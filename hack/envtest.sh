#!/usr/bin/env bash
# Provides kube-apiserver, etcd and kubectl for envtest and prints the folder
# that holds them (use it as KUBEBUILDER_ASSETS). Progress goes to stderr.
#
# Order: $KUBEBUILDER_ASSETS if set; else setup-envtest, bounded by a short
# timeout so a closed network fails fast; else a build from the Go module
# proxy (hack/tools pins k8s.io/kubernetes and etcd) into bin/k8s/<version>/.
# A build is also kept in a per-user cache outside the work tree, so a fresh
# clone on the same machine copies it instead of rebuilding.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=${K8S_VERSION:-1.37.2}             # must match hack/tools/go.mod
SETUP_ENVTEST_VERSION=${SETUP_ENVTEST_VERSION:-release-0.22}
SETUP_ENVTEST_TIMEOUT=${SETUP_ENVTEST_TIMEOUT:-20}
DEST=$PWD/bin/k8s/$K8S_VERSION
CACHE=${TOKENHOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenhook}/k8s/$K8S_VERSION

say() { echo "envtest: $*" >&2; }
complete() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ] && [ -x "$1/kubectl" ]; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  complete "$KUBEBUILDER_ASSETS" || { say "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver, etcd or kubectl"; exit 1; }
  echo "$KUBEBUILDER_ASSETS"; exit 0
fi
if complete "$DEST"; then echo "$DEST"; exit 0; fi

start=$(date +%s)
mkdir -p "$DEST"
if complete "$CACHE"; then
  say "copying the control plane from $CACHE"
  cp "$CACHE/kube-apiserver" "$CACHE/etcd" "$CACHE/kubectl" "$DEST/"
  echo "$DEST"; exit 0
fi

# setup-envtest downloads release archives; on a closed network it fails (or
# hangs), so it gets a short, hard limit.
if [ "${ENVTEST_SKIP_DOWNLOAD:-}" != "1" ]; then
  say "trying setup-envtest (at most ${SETUP_ENVTEST_TIMEOUT}s)"
  if dir=$(timeout "$SETUP_ENVTEST_TIMEOUT" go run "sigs.k8s.io/controller-runtime/tools/setup-envtest@$SETUP_ENVTEST_VERSION" \
        use "$K8S_VERSION" --bin-dir "$PWD/bin/setup-envtest" -p path 2>/dev/null) && complete "$dir"; then
    cp "$dir/kube-apiserver" "$dir/etcd" "$dir/kubectl" "$DEST/"
    say "downloaded in $(( $(date +%s) - start ))s"
    echo "$DEST"; exit 0
  fi
  say "setup-envtest could not download Kubernetes $K8S_VERSION; building from the Go module proxy"
fi

say "building kube-apiserver, etcd and kubectl v$K8S_VERSION from source:"
say "  about 4-6 minutes on 2 cores with a cold Go cache, under a minute with a warm one"
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $p.gitTreeState=clean"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd hack/tools && go build -trimpath -ldflags="$ld" -o "$tmp/" \
    go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
mv "$tmp/server" "$tmp/etcd"   # go names etcd's main package "server"
mkdir -p "$CACHE"
cp "$tmp/kube-apiserver" "$tmp/etcd" "$tmp/kubectl" "$CACHE/"
mv "$tmp/kube-apiserver" "$tmp/etcd" "$tmp/kubectl" "$DEST/"
say "built in $(( $(date +%s) - start ))s into $DEST"
echo "$DEST"

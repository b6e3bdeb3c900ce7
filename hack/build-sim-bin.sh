#!/usr/bin/env bash
# Builds (once) and caches the components that make the local control plane a small "cloud":
# kube-scheduler (binds Pods), kwok (plays kubelet for simulated Nodes and their Pods, plus
# kwok-stages, which prints kwok's embedded Stage documents) and Karpenter with its kwok cloud
# provider (real Karpenter provisioning and disruption; NodeClaims become kwok Nodes).
# Built from the Go module proxy with the pins in hack/k8s-bin, hack/kwok-bin and hack/karpenter-bin,
# cached by version in ~/.cache/infercap. Prints the cache directory on stdout; the rest goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.36.3
KWOK_VERSION=v0.8.0
KARPENTER_VERSION=v1.14.1
cache_root=${INFERCAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infercap}
bin="$cache_root/bin/sim-k8s-$K8S_VERSION-kwok-$KWOK_VERSION-karpenter-$KARPENTER_VERSION"
mkdir -p "$bin"

log() { printf '[build-sim-bin] %s\n' "$*" >&2; }

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
command -v go >/dev/null || { log "go is not installed: these components are built from the Go module proxy"; exit 1; }

# build <output name> <wrapper module dir> <ldflags> <package>
build() {
  local name=$1 dir=$2 ldf=$3 pkg=$4 start
  [ -x "$bin/$name" ] && return 0
  log "building $name from $pkg (cold: minutes; cached afterwards)"
  start=$(date +%s)
  # Build to a temporary name first so an interrupted build never leaves a half-written binary cached.
  (cd "$here/$dir" && go build -trimpath -ldflags "$ldf" -o "$bin/.$name.tmp" "$pkg")
  mv "$bin/.$name.tmp" "$bin/$name"
  log "$name built in $(( $(date +%s) - start )) s"
}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
k8s_ldf="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ldf="$k8s_ldf -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done

build kube-scheduler k8s-bin "$k8s_ldf" k8s.io/kubernetes/cmd/kube-scheduler
build kwok kwok-bin "-s -w" sigs.k8s.io/kwok/cmd/kwok
build kwok-stages kwok-bin "-s -w" .
# The kwok provider's main package is sigs.k8s.io/karpenter/kwok; name the binary for what it is.
build karpenter karpenter-bin "-s -w" sigs.k8s.io/karpenter/kwok

echo "$bin"

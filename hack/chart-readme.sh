#!/usr/bin/env bash
# Generates charts/infercap/README.md from values.yaml and README.md.gotmpl with helm-docs, built from
# the Go module proxy at the version pinned in hack/helm-docs/go.mod and cached in ~/.cache/infercap/bin.
#   hack/chart-readme.sh           write the README
#   hack/chart-readme.sh --check   exit 1 if the README is stale
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^require github.com\/norwoodj\/helm-docs \(v[^ ]*\)$/\1/p' hack/helm-docs/go.mod)
bin="${XDG_CACHE_HOME:-$HOME/.cache}/infercap/bin/helm-docs-$version"
if [ ! -x "$bin" ]; then
  echo "building helm-docs $version (hack/helm-docs)" >&2
  (cd hack/helm-docs && GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=readonly \
    go build -trimpath -o "$bin.tmp" github.com/norwoodj/helm-docs/cmd/helm-docs)
  mv "$bin.tmp" "$bin"
fi
args=(--chart-search-root charts --template-files README.md.gotmpl --log-level warning)
if [ "${1:-}" = "--check" ]; then
  if ! diff -u charts/infercap/README.md <("$bin" "${args[@]}" --dry-run); then
    echo "charts/infercap/README.md is stale: run make chart-readme" >&2
    exit 1
  fi
  exit 0
fi
"$bin" "${args[@]}"

#!/usr/bin/env bash
# Builds the krew archive of `kubectl infercap` reproducibly (fixed owner, mode and time; gzip without a
# name or time stamp), so its sha256 is a function of the launcher alone, and writes it into the krew
# manifest plugins/infercap.yaml.
#   hack/krew.sh           build dist/kubectl-infercap-v<version>.tar.gz and update the manifest
#   hack/krew.sh --check   exit 1 if the manifest's sha256 or version is stale
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
archive="dist/kubectl-infercap-v$version.tar.gz"
mkdir -p dist
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --mode='u+rwX,go+rX,go-w' \
  -C hack/krew -cf - kubectl-infercap | gzip -n -9 >"$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)
if [ "${1:-}" = "--check" ]; then
  grep -q "sha256: $sha" plugins/infercap.yaml && grep -q "version: v$version" plugins/infercap.yaml || {
    echo "plugins/infercap.yaml is stale: run hack/krew.sh" >&2
    exit 1
  }
  exit 0
fi
sed -i -e "s/sha256: [0-9a-f]*/sha256: $sha/" -e "s/^  version: .*/  version: v$version/" \
  -e "s|/download/v[^/]*/kubectl-infercap-v[^/]*.tar.gz|/download/v$version/kubectl-infercap-v$version.tar.gz|" \
  plugins/infercap.yaml
echo "$archive $sha"

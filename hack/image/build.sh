#!/usr/bin/env bash
# Builds the operator image without a container daemon: a Debian bookworm base with Python 3.11 made by
# mmdebstrap (cached under its content hash), then `buildah bud --isolation chroot` of the Dockerfile
# with that base as its BASE argument. Prints the image name on stdout; progress goes to stderr.
#   hack/image/build.sh                 build localhost/infercap:<version>
#   IMAGE=name:tag hack/image/build.sh  another name
# Images live in a private store (INFERCAP_IMAGE_STORE, default ~/.cache/infercap/buildah); run
# buildah with hack/image/buildah.sh to read them.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=hack/image
"$here/tools.sh" >&2
B="$here/buildah.sh"

# The base: what goes into it decides its tag, so a change to the list builds a new one.
SUITE=bookworm
MIRROR="${INFERCAP_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=python3.11,python3-venv,ca-certificates
DPKG_OPTS=(
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
)
key=$(printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES" "${DPKG_OPTS[@]}" | sha256sum | cut -c1-16)
BASE="localhost/infercap-base:bookworm-$key"
if ! "$B" inspect --type image "$BASE" >/dev/null 2>&1; then
  echo "== base $BASE: mmdebstrap $SUITE with $PACKAGES" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mmdebstrap --quiet --variant=minbase --include="$PACKAGES" "${DPKG_OPTS[@]}" --format=tar \
    "$SUITE" "$tmp/base.tar" "$MIRROR" >&2
  ctr=$("$B" from scratch)
  "$B" add --quiet "$ctr" "$tmp/base.tar" / >&2
  "$B" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label org.opencontainers.image.base.name="debian:$SUITE (mmdebstrap minbase + $PACKAGES)" "$ctr" >&2
  "$B" commit --quiet --rm "$ctr" "$BASE" >&2
fi

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE="${IMAGE:-localhost/infercap:$VERSION}"
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# The host's CA bundle, for pip behind a TLS-inspecting proxy (a build secret: not kept in the image).
CA="${INFERCAP_CA_BUNDLE:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}"
secret=()
[ -s "$CA" ] && secret=(--secret "id=ca,src=$CA")
echo "== image $IMAGE from $BASE" >&2
"$B" bud --quiet --isolation chroot --layers \
  --build-arg BASE="$BASE" --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${secret[@]}" \
  -t "$IMAGE" . >&2
echo "$IMAGE"

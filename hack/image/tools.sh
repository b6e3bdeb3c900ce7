#!/usr/bin/env bash
# Installs the daemonless image tools (mmdebstrap for the base, buildah for the build) from Debian
# packages when they are missing. Runs `apt-get update` once, and only then.
set -euo pipefail
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v buildah >/dev/null || missing+=(buildah)
command -v unshare >/dev/null || missing+=(util-linux)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

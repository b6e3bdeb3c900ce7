#!/usr/bin/env bash
# buildah on infercap's private image store. The overlay driver when the kernel lets us mount overlays
# here (fast: layers are shared, not copied), else vfs (works anywhere, copies every layer). Each driver
# has its own store; INFERCAP_IMAGE_DRIVER forces one.
set -euo pipefail
store="${INFERCAP_IMAGE_STORE:-${XDG_CACHE_HOME:-$HOME/.cache}/infercap/buildah}"
mkdir -p "$store"
driver="${INFERCAP_IMAGE_DRIVER:-}"
if [ -z "$driver" ]; then
  if [ ! -s "$store/driver" ]; then
    probe=$(mktemp -d)
    mkdir -p "$probe"/{lower,upper,work,merged}
    if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
      "$probe/merged" 2>/dev/null; then
      umount "$probe/merged"
      echo overlay >"$store/driver"
    else
      echo vfs >"$store/driver"
    fi
    rm -rf "$probe"
  fi
  driver=$(cat "$store/driver")
fi
exec buildah --root "$store/$driver/root" --runroot "$store/$driver/run" --storage-driver "$driver" "$@"

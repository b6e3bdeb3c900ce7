#!/usr/bin/env bash
# Prints the path of a Prometheus server binary, installing Debian's `prometheus` package if there is
# none (the autoscaling end-to-end test starts it on loopback; the package's service is not used).
set -euo pipefail
if command -v prometheus >/dev/null 2>&1; then command -v prometheus; exit 0; fi
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "prometheus is not installed and this user cannot install it: apt-get install prometheus" >&2; exit 1
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends prometheus >&2; then
  $sudo apt-get update >&2
  $sudo apt-get install -y --no-install-recommends prometheus >&2
fi
command -v prometheus

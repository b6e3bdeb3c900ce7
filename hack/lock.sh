#!/usr/bin/env bash
# Regenerates requirements.lock: the operator image's runtime dependencies, pinned with every
# distribution's sha256 so `pip install --require-hashes` refuses anything else. pip-compile keeps the
# pins already in the lock and only resolves what changed in pyproject.toml.
#   hack/lock.sh            rewrite requirements.lock
#   hack/lock.sh --upgrade  move every pin to the newest release
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${XDG_CACHE_HOME:-$HOME/.cache}/infercap/pip-tools"
if [ ! -x "$tools/bin/pip-compile" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet "pip-tools==7.6.2"
fi
"$tools/bin/pip-compile" --quiet --generate-hashes --strip-extras --no-emit-index-url --no-emit-find-links --all-build-deps --allow-unsafe \
  --output-file requirements.lock "$@" pyproject.toml

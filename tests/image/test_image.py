"""The operator image, built and run without a container daemon (hack/image/build.sh: an mmdebstrap
bookworm base, `buildah bud --isolation chroot`): it reports its version, plans offline with no network,
runs as a non-root user with the OCI labels set, and its size is printed (a figure, not an assert)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILDAH = ROOT / "hack" / "image" / "buildah.sh"


def buildah(*args: str, offline: bool = False, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    # chroot isolation shares the caller's network namespace; `unshare --net` gives it an empty one.
    prefix = ["unshare", "--net"] if offline else []
    proc = subprocess.run([*prefix, str(BUILDAH), *args], capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"buildah {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def image() -> str:
    proc = subprocess.run(
        [str(ROOT / "hack" / "image" / "build.sh")], capture_output=True, text=True, timeout=1800, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"hack/image/build.sh failed:\n{proc.stderr[-4000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    ctr = buildah("from", "--pull=never", image).stdout.strip()
    buildah("copy", ctr, str(ROOT / "examples" / "llama-3.1-70b.yaml"), "/tmp/llama.yaml")
    yield ctr
    buildah("rm", ctr)


def run(ctr: str, *cmd: str) -> str:
    """Runs `cmd` in the container with no network: what it does needs nothing outside the image."""
    return buildah("run", "--isolation", "chroot", ctr, "--", *cmd, offline=True).stdout


def test_version(container: str) -> None:
    from infercap import __version__

    assert run(container, "infercap", "--version").strip().endswith(__version__)


def test_offline_plan(container: str) -> None:
    probe = (
        "import socket\n"
        "try:\n socket.create_connection(('1.1.1.1', 443), timeout=2)\n"
        "except OSError:\n print('offline')"
    )
    assert run(container, "python3", "-c", probe).strip() == "offline", "the smoke run must have no network"
    out = json.loads(run(container, "infercap", "plan", "-f", "/tmp/llama.yaml", "-o", "json"))
    assert out["name"] == "llama-70b-chat"
    assert out["model"] == "llama-3.1-70b"
    # The same plan as the source tree's planner makes (the image runs this code, not another version).
    here = subprocess.run(
        [sys.executable, "-m", "infercap", "plan", "-f", str(ROOT / "examples" / "llama-3.1-70b.yaml"), "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out["plan"] == json.loads(here.stdout)["plan"]


def test_runs_as_non_root_with_oci_labels(image: str, container: str) -> None:
    assert run(container, "id", "-u").strip() == "65532"
    config = json.loads(buildah("inspect", "--type", "image", image).stdout)["OCIv1"]["config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["infercap"]
    labels = config["Labels"]
    for key in ("title", "version", "revision", "created", "source", "licenses"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.revision"] != "unknown"


def test_prints_its_size(image: str, capsys: pytest.CaptureFixture[str]) -> None:
    size = buildah("images", "--format", "{{.Size}}", image).stdout.strip()
    with capsys.disabled():
        print(f"\nimage {image}: {size}")
    assert size.endswith("MB"), size

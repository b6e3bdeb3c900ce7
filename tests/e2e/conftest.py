"""Cluster fixtures: a real local control plane (hack/cluster) for the whole session, a fresh
namespace per test, and kubectl.

The cluster is started if it is not running and stopped again at the end of the session if this
session started it. If it cannot start, every cluster test fails with hack/cluster's reason: none is
skipped."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "hack" / "cluster"


@dataclass
class Cluster:
    kubeconfig: Path
    bindir: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": f"{self.bindir}:{os.environ['PATH']}"}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.bindir / "kubectl"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


def _cluster_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLUSTER), *args], capture_output=True, text=True, check=False, timeout=3600)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    was_running = _cluster_cmd("status").returncode == 0
    up = _cluster_cmd("up")
    if up.returncode != 0:
        pytest.fail(f"hack/cluster up failed, so no cluster test can run:\n{up.stderr[-4000:]}", pytrace=False)
    env = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.strip().splitlines())
    bindir = Path(env["PATH"].split(":")[0])
    yield Cluster(Path(env["KUBECONFIG"]), bindir)
    if not was_running:
        _cluster_cmd("down")


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)

"""Packaging contracts: the chart README is generated from values.yaml, the image's lock file pins every
runtime dependency, and the chart's CRDs and values schema stay consistent."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_chart_readme_is_generated_from_values() -> None:
    proc = subprocess.run(
        [str(ROOT / "hack" / "chart-readme.sh"), "--check"], capture_output=True, text=True, check=False, timeout=900
    )
    assert proc.returncode == 0, proc.stderr


def lock() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock as name -> (version, sha256 hashes)."""
    pinned: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            assert "==" in line, f"requirements.lock holds only exact pins, not {line!r}"
            name, _, version = line.rstrip(" \\").partition("==")
            name = name.lower().replace("_", "-")
            pinned[name] = (version, [])
        elif line.strip().startswith("--hash=sha256:"):
            pinned[name][1].append(line.strip().rstrip(" \\").removeprefix("--hash=sha256:"))
    return pinned


def test_lock_pins_every_runtime_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = lock()
    for dep in project["dependencies"]:
        name = re.split(r"[<>=!~ \[]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in requirements.lock (run hack/lock.sh)"
    # The build backend is pinned too: the image builds infercap's wheel offline, without isolation.
    assert {"setuptools", "wheel"} <= set(pinned)
    for name, (_, hashes) in pinned.items():
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{name} has no sha256 hash"


def test_values_validate_against_the_schema() -> None:
    schema = json.loads((ROOT / "charts/infercap/values.schema.json").read_text())
    values = yaml.safe_load((ROOT / "charts/infercap/values.yaml").read_text())
    assert set(values) <= set(schema["properties"]), "every top-level value is in the schema"
    assert schema["additionalProperties"] is False


def test_dockerfile_runs_as_non_root_with_pinned_dependencies() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 65532" in text and "--require-hashes" in text and "-r requirements.lock" in text
    assert "--no-build-isolation --no-index" in text, "infercap's own wheel resolves nothing new"
    assert re.search(r"^ARG BASE=", text, re.M) and "FROM ${BASE}" in text, "the base image is a build argument"


def test_krew_manifest_matches_the_reproducible_archive() -> None:
    proc = subprocess.run([str(ROOT / "hack" / "krew.sh"), "--check"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    manifest = yaml.safe_load((ROOT / "plugins" / "infercap.yaml").read_text())
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "infercap"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert manifest["spec"]["version"] == f"v{version}"
    (platform,) = manifest["spec"]["platforms"]
    assert platform["bin"] == "kubectl-infercap" and re.fullmatch(r"[0-9a-f]{64}", platform["sha256"])


def test_krew_launcher_runs_the_plugin() -> None:
    import os

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    launcher = ROOT / "hack" / "krew" / "kubectl-infercap"
    proc = subprocess.run([str(launcher), "--help"], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0 and "kubectl infercap" in proc.stdout, proc.stderr

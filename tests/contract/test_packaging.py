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
        [sys.executable, str(ROOT / "hack" / "chart-readme.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_lock_pins_every_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[name.lower().replace("_", "-")] = version
    for dep in project["dependencies"]:
        name = re.split(r"[<>=!~ \[]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert pinned.get(name), f"{name} is not pinned in requirements.lock"


def test_values_validate_against_the_schema() -> None:
    schema = json.loads((ROOT / "charts/infercap/values.schema.json").read_text())
    values = yaml.safe_load((ROOT / "charts/infercap/values.yaml").read_text())
    assert set(values) <= set(schema["properties"]), "every top-level value is in the schema"
    assert schema["additionalProperties"] is False


def test_dockerfile_runs_as_non_root_with_pinned_dependencies() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER 65532" in text and "-r /tmp/requirements.lock" in text and "--no-deps" in text

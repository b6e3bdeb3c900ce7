"""The third-party CRDs the local control plane installs (hack/crds/) are the vendors' own files at the
tags hack/crds/SOURCES records, unmodified, and serve the API versions infercap writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from infercap.providers import clusterapi, gke

CRDS = Path(__file__).resolve().parents[2] / "hack" / "crds"


def sources() -> list[list[str]]:
    return [line.split() for line in (CRDS / "SOURCES").read_text().splitlines() if line and not line.startswith("#")]


def test_every_file_has_a_source() -> None:
    assert sorted(p.name for p in CRDS.glob("*.yaml")) == sorted(row[0] for row in sources())


@pytest.mark.parametrize("row", sources(), ids=lambda r: r[0])
def test_file_is_the_upstream_one(row: list[str]) -> None:
    name, repo, tag, commit, path, digest = row
    lines = (CRDS / name).read_text().splitlines(keepends=True)
    assert lines[0] == f"# Upstream, unmodified: https://github.com/{repo}/blob/{tag}/{path}\n"
    assert commit in lines[1]
    upstream = "".join(lines[2:]).encode()
    assert hashlib.sha256(upstream).hexdigest() == digest, f"{name} differs from {repo}@{tag}:{path}"
    assert yaml.safe_load(upstream)["kind"] == "CustomResourceDefinition"


def served(name: str) -> set[str]:
    crd = yaml.safe_load((CRDS / name).read_text())
    return {f"{crd['spec']['group']}/{v['name']}" for v in crd["spec"]["versions"] if v["served"]}


def test_the_versions_infercap_writes_are_served() -> None:
    assert clusterapi.API_VERSION in served("cluster.x-k8s.io_machinedeployments.yaml")
    assert gke.API_VERSION in served("container.cnrm.cloud.google.com_containernodepools.yaml")
    assert "monitoring.coreos.com/v1" in served("monitoring.coreos.com_servicemonitors.yaml")
    assert "monitoring.coreos.com/v1" in served("monitoring.coreos.com_prometheusrules.yaml")

"""The committed CRDs are exactly what the pydantic models generate, the chart carries a byte-identical
copy, and every field has a description (kubectl explain must read well)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infercap.api.crd import all_crds, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(all_crds()))
def test_committed_crds_match_the_models(name: str) -> None:
    committed = (ROOT / "crds" / name).read_text()
    assert committed == render(all_crds()[name]), f"crds/{name} is stale: run `make crds`"


CHART_CRDS = ROOT / "charts" / "infercap" / "files" / "crds"  # templated by the chart's templates/crds.yaml


def test_chart_copy_is_identical() -> None:
    ours = sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    chart = sorted(p.name for p in CHART_CRDS.glob("*.yaml"))
    assert ours == chart
    for name in ours:
        assert (ROOT / "crds" / name).read_bytes() == (CHART_CRDS / name).read_bytes()
    assert not (ROOT / "charts" / "infercap" / "crds").exists(), "Helm would install (and never upgrade) a crds/"


def _walk(node: dict[str, Any], path: str, missing: list[str]) -> None:
    for key, sub in (node.get("properties") or {}).items():
        here = f"{path}.{key}"
        if key not in ("apiVersion", "kind", "metadata") and not sub.get("description"):
            missing.append(here)
        _walk(sub, here, missing)
    if isinstance(node.get("items"), dict):
        _walk(node["items"], f"{path}[]", missing)


@pytest.mark.parametrize("name", sorted(all_crds()))
def test_every_field_is_described(name: str) -> None:
    crd = yaml.safe_load((ROOT / "crds" / name).read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    missing: list[str] = []
    _walk(schema, "", missing)
    assert not missing, f"fields without a description: {missing}"


def test_conditions_are_a_map_list_keyed_by_type_with_date_times() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "infercap.dev_modeldeployments.yaml").read_text())
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert "type" in item["required"], "a map key must be required"
    assert item["properties"]["lastTransitionTime"]["format"] == "date-time"

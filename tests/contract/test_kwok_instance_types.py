"""hack/kwok/instance-types.json (what Karpenter's kwok provider may launch locally) is exactly what the
catalog generates, and its prices are the catalog's per node-hour."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from infercap.core.catalog import builtin_catalog
from infercap.providers.kwok import render

ROOT = Path(__file__).resolve().parents[2]


def test_committed_file_matches_the_catalog() -> None:
    committed = (ROOT / "hack" / "kwok" / "instance-types.json").read_text()
    assert committed == render(), "hack/kwok/instance-types.json is stale: run python -m infercap.providers.kwok"


def test_every_node_shape_is_offered_at_the_catalog_price() -> None:
    types = {t["name"]: t for t in json.loads(render())}
    cat = builtin_catalog()
    acc = cat.accelerators["h100"]
    p5 = types["p5.48xlarge"]
    assert p5["resources"]["nvidia.com/gpu"] == "8"
    assert {o["Price"] for o in p5["offerings"]} == {float(acc.price.per_chip_hour * 8)}
    assert types["Standard_ND96isr_MI300X_v5"]["resources"]["amd.com/gpu"] == "8"
    for acc in cat.accelerators.values():
        for shape in acc.node_shapes:
            for cloud, name in shape.instance_types.items():
                if cloud in ("aws", "azure"):
                    assert Decimal(str(types[name]["offerings"][0]["Price"])) == acc.price.per_chip_hour * shape.chips

"""The instance-types file of Karpenter's kwok provider, generated from infercap's catalog.

Every catalog node shape with an AWS or Azure instance type becomes one kwok instance type with the
accelerator's resource and count per node and the catalog's price per node-hour, so Karpenter's
cost-based choice and infercap's plan are made from the same prices. `hack/kwok/instance-types.json`
is this module's output, committed and drift-tested; `python -m infercap.providers.kwok` prints it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from infercap.core.catalog import Catalog, builtin_catalog

# Zones the simulated clouds offer (two per cloud so zone spread and zone-specific limits can be seen).
ZONES = {"aws": ("us-east-1a", "us-east-1b"), "azure": ("eastus-1", "eastus-2")}
# CPU and memory per accelerator chip on the large GPU instances of both clouds (p5.48xlarge: 192 vCPU
# and 2 TiB for 8 GPUs); serving pods request a small share of it.
CPU_PER_CHIP = 24
MEMORY_GIB_PER_CHIP = 256
MAX_PODS = 110


def instance_types(catalog: Catalog) -> list[dict[str, Any]]:
    """kwok provider instance types, one per (cloud, instance type) in the catalog, sorted by name."""
    out: dict[str, dict[str, Any]] = {}
    for acc in catalog.accelerators.values():
        for shape in acc.node_shapes:
            for cloud, name in sorted(shape.instance_types.items()):
                if cloud not in ZONES or name in out:
                    continue
                price = float(acc.price.per_chip_hour * shape.chips)
                out[name] = {
                    "name": name,
                    "offerings": [
                        {
                            "Price": round(price, 4),
                            "Available": True,
                            "Requirements": [
                                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]},
                            ],
                        }
                        for zone in ZONES[cloud]
                    ],
                    "architecture": "amd64",
                    "operatingSystems": ["linux"],
                    "resources": {
                        "cpu": str(CPU_PER_CHIP * shape.chips),
                        "memory": f"{MEMORY_GIB_PER_CHIP * shape.chips}Gi",
                        "ephemeral-storage": f"{500 * shape.chips}Gi",
                        "pods": str(MAX_PODS),
                        acc.resource_name: str(shape.chips),
                    },
                }
    return [out[k] for k in sorted(out)]


def render(catalog: Catalog | None = None) -> str:
    return json.dumps(instance_types(catalog or builtin_catalog()), indent=1) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

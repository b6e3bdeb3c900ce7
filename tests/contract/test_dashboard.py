"""The Grafana dashboard only queries metrics the operator exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from infercap.metrics import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def exported() -> set[str]:
    names = set()
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            names.add(sample.name)
        names.add(metric.name)
    # Histograms and counters expose suffixed series once observed; accept the standard suffixes.
    for base in list(names):
        names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count", f"{base}_total"}
    return names


def test_dashboard_queries_exported_metrics() -> None:
    dash = json.loads((ROOT / "charts/infercap/dashboards/infercap.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    used = {m for e in exprs for m in re.findall(r"infercap_[a-z_]+", e)}
    assert used, "the dashboard queries infercap metrics"
    missing = used - exported()
    assert not missing, f"dashboard queries unknown metrics: {missing}"

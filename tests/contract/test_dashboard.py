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


def dashboard_exprs() -> list[str]:
    dash = json.loads((ROOT / "charts/infercap/dashboards/infercap.json").read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_rates_use_the_rate_interval() -> None:
    windows = {w for e in dashboard_exprs() for w in re.findall(r"\[([^\]]+)\]", e)}
    assert windows == {"$__rate_interval"}, windows


def test_costs_are_never_summed_across_currencies() -> None:
    for e in dashboard_exprs():
        if "infercap_cost_hourly" in e and re.search(r"\b(sum|avg|max|min)\b", e):
            assert "by (currency)" in e, e


def test_every_query_selects_the_cluster() -> None:
    for e in dashboard_exprs():
        for selector in re.findall(r"infercap_[a-z_]+(\{[^}]*\})?", e):
            assert 'cluster=~"$cluster"' in selector, e


def test_capacity_panels_show_the_plan_next_to_what_exists() -> None:
    dash = json.loads((ROOT / "charts/infercap/dashboards/infercap.json").read_text())
    pairs = {
        "infercap_planned_nodes": "infercap_observed_nodes_ready",
        "infercap_planned_replicas": "infercap_observed_replicas_ready",
        "infercap_cost_hourly": "infercap_observed_cost_hourly",
    }
    for planned, observed in pairs.items():
        together = [
            p["title"]
            for p in dash["panels"]
            if any(planned + "{" in t["expr"] for t in p.get("targets", []))
            and any(observed + "{" in t["expr"] for t in p.get("targets", []))
        ]
        assert together, f"no panel shows {planned} next to {observed}"

"""Step-time corrections for `infercap plan`, so that a plan reviewed offline is the one the operator's
online calibration makes: given on the command line (--step-time-factor h100=1.3), or read from
status.observed.calibration of ModelDeployments as `kubectl get -o yaml` (or -o json) prints them
(--calibration-from), through the operator's own reading of that status (bounded, filters with samples).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import yaml

from infercap.api import API_VERSION
from infercap.api.manifests import ManifestError
from infercap.core.calibration_live import filters
from infercap.core.correction import FilterParams

BOUNDS = FilterParams()  # the operator's: a correction stays within min_ratio..max_ratio

Key = tuple[str, str]  # (namespace, name)


def parse_factor(value: str) -> tuple[str, float]:
    """ACCELERATOR=FACTOR, the factor finite and within the operator's bounds (argparse type)."""
    acc, sep, raw = value.partition("=")
    try:
        factor = float(raw)
    except ValueError:
        factor = math.nan
    lo, hi = BOUNDS.min_ratio, BOUNDS.max_ratio
    if not sep or not acc or not math.isfinite(factor) or not lo <= factor <= hi:
        raise argparse.ArgumentTypeError(
            f"expected ACCELERATOR=FACTOR with FACTOR between {lo:g} and {hi:g} (the operator's bounds), such as "
            f"h100=1.3, got {value!r}"
        )
    return acc, factor


def _objects(docs: list[Any]) -> list[dict[str, Any]]:
    """ModelDeployments among the documents, a kubectl List's items included."""
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "List" or (isinstance(doc.get("items"), list) and "kind" not in doc):
            out += _objects(doc.get("items") or [])
        elif doc.get("kind") == "ModelDeployment" and doc.get("apiVersion") == API_VERSION:
            out.append(doc)
    return out


def _at(doc: dict[str, Any], *path: str) -> dict[str, Any]:
    """The mapping at `path`, or an empty one where a level is missing or not a mapping."""
    for key in path:
        value = doc.get(key)
        doc = value if isinstance(value, dict) else {}
    return doc


def from_status(text: str, path: str) -> dict[Key, dict[str, float]]:
    """(namespace, name) -> accelerator -> step-time factor, from each ModelDeployment's
    status.observed.calibration (filters with at least one sample). The spec's mode is not consulted:
    offline, an observe-mode deployment shows what online calibration would plan."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        raise ManifestError(f"--calibration-from {path}: not YAML or JSON") from None
    out: dict[Key, dict[str, float]] = {}
    for obj in _objects(docs):
        meta, block = _at(obj, "metadata"), _at(obj, "status", "observed", "calibration")
        if not block or not meta.get("name"):
            continue
        states = filters(block, BOUNDS)
        factors = {acc: s.factor for acc, s in states.items() if s.samples > 0}
        if factors:
            out[(str(meta.get("namespace") or "default"), str(meta["name"]))] = factors
    if not out:
        raise ManifestError(
            f"--calibration-from {path}: no ModelDeployment with samples in status.observed.calibration "
            f"(pass `kubectl get modeldeployment NAME -o yaml` output of one that calibrates)"
        )
    return out


def factors_for(
    key: Key, measured: dict[Key, dict[str, float]], flags: list[tuple[str, float]]
) -> dict[str, float] | None:
    """The factors one ModelDeployment plans with: its measured ones, --step-time-factor on top."""
    out = dict(measured.get(key, {}))
    out.update(dict(flags))
    return out or None


def check(flags: list[tuple[str, float]], accelerators: set[str]) -> None:
    """--step-time-factor names catalog accelerators only (a typo would silently correct nothing)."""
    for acc, _ in flags:
        if acc not in accelerators:
            raise ManifestError(
                f"--step-time-factor {acc}=...: {acc!r} is not an accelerator of the catalog "
                f"(infercap catalog accelerators)"
            )

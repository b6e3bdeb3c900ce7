"""Checks the compute model against measured throughputs (data/calibration*.csv): maps each
measurement to catalog ids, predicts it with `estimate`, and reports the errors.

The rows come from public MLPerf and TensorRT-LLM/SGLang/vLLM results; see data/README.md.
"""

from __future__ import annotations

import csv
import re
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from infercap.api.types import Precision
from infercap.core.catalog import Catalog
from infercap.core.errors import PlanError
from infercap.core.estimate import estimate_replica

# Catalog model id for each published model name (names not listed are models infercap does not ship).
_MODEL_PATTERNS: list[tuple[str, str]] = [
    (r"llama.?(v?3(\.1)?).?8b|llama-3\.1-8b", "llama-3.1-8b"),
    (r"llama.?v?3\.3.?70b", "llama-3.3-70b"),
    (r"llama.?(v?3(\.1)?).?70b", "llama-3.1-70b"),
    (r"llama.?v?3\.1.?405b|llama3\.1-405b", "llama-3.1-405b"),
    (r"llama.?v?2.?70b|llama2-70b", "llama-2-70b"),
    (r"llama.?4.?scout", "llama-4-scout"),
    (r"llama.?4.?maverick", "llama-4-maverick"),
    (r"mixtral.?8x7b", "mixtral-8x7b"),
    (r"mixtral.?8x22b", "mixtral-8x22b"),
    (r"qwen3-235b", "qwen3-235b-a22b"),
    (r"qwen3-30b", "qwen3-30b-a3b"),
    (r"deepseek", "deepseek-r1"),
    (r"kimi.?k2", "kimi-k2"),
]

_ACCELERATOR_PATTERNS: list[tuple[str, str]] = [
    (r"\bgb200\b", "gb200"),
    (r"\bgb300\b", "gb300"),
    (r"\bb200\b", "b200"),
    (r"\bb300\b", "b300"),
    (r"\bh200\b", "h200"),
    (r"\bh100\b(?!.*(nvl|pcie))", "h100"),
    (r"a100-sxm", "a100"),
    (r"\bl40s\b", "l40s"),
    (r"mi300x", "mi300x"),
    (r"mi325x", "mi325x"),
    (r"mi355x", "mi355x"),
]

_PRECISIONS = {"fp8": Precision.FP8, "fp4": Precision.FP4, "bf16": Precision.BF16, "fp16": Precision.BF16}


@dataclass(frozen=True)
class Row:
    """One measurement the model can predict."""

    model: str
    accelerator: str
    chips: int
    precision: Precision | None
    input_tokens: int
    output_tokens: int
    measured: float
    source_name: str
    scenario: str
    notes: str


@dataclass(frozen=True)
class Result:
    row: Row
    predicted: float

    @property
    def error(self) -> float:
        """Signed relative error of the prediction."""
        return self.predicted / self.row.measured - 1


def _match(patterns: list[tuple[str, str]], text: str) -> str | None:
    low = text.lower()
    for pattern, ident in patterns:
        if re.search(pattern, low):
            return ident
    return None


def parse_rows(records: Iterable[dict[str, str]], offline_only: bool = True) -> Iterator[Row]:
    """Rows with known model, accelerator and input/output lengths (offline max-throughput runs)."""
    for r in records:
        if not r.get("input_tokens") or not r.get("output_tokens"):
            continue
        scenario = r.get("scenario", "")
        if offline_only and "offline" not in scenario.lower():
            continue
        model = _match(_MODEL_PATTERNS, r["model"])
        acc = _match(_ACCELERATOR_PATTERNS, r["accelerator"])
        if model is None or acc is None:
            continue
        prec_text = r.get("precision", "").lower()
        precision = next((p for k, p in _PRECISIONS.items() if prec_text.startswith(k)), None)
        if precision is None and prec_text not in ("", "not stated") and not prec_text.startswith("not stated"):
            continue  # "Mixed" and similar: not a single weight precision
        notes = r.get("notes", "")
        chips = int(r["accelerator_count"])
        m = re.search(r"TP\s*=?\s*(\d+)\s*,?\s*PP\s*=?\s*(\d+)", notes)
        if m:
            chips = int(m.group(1)) * int(m.group(2))
        yield Row(
            model=model,
            accelerator=acc,
            chips=chips,
            precision=precision,
            input_tokens=int(float(r["input_tokens"])),
            output_tokens=int(float(r["output_tokens"])),
            measured=float(r["measured_tokens_per_s"]),
            source_name=r["model"],
            scenario=scenario,
            notes=notes,
        )


def load_rows(path: Path, offline_only: bool = True) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(parse_rows(csv.DictReader(f), offline_only))


def predict(catalog: Catalog, rows: Iterable[Row]) -> list[Result]:
    """Predict each row; rows the model says do not fit are left out (reported by `unfit`)."""
    out = []
    for row in rows:
        try:
            est = estimate_replica(
                catalog,
                model_id=row.model,
                accelerator_id=row.accelerator,
                chips=row.chips,
                precision=row.precision,
                input_tokens=row.input_tokens,
                output_tokens=row.output_tokens,
            )
        except PlanError:
            continue  # e.g. a benchmark run past the catalog model's context length
        if est.performance is not None:
            out.append(Result(row, est.performance.output_tokens_per_second))
    return out


@dataclass(frozen=True)
class Summary:
    count: int
    median_abs_error: float
    worst_abs_error: float
    median_signed_error: float


def summarize(results: list[Result]) -> Summary:
    if not results:
        return Summary(0, float("nan"), float("nan"), float("nan"))
    errs = [r.error for r in results]
    abs_errs = [abs(e) for e in errs]
    return Summary(len(results), statistics.median(abs_errs), max(abs_errs), statistics.median(errs))

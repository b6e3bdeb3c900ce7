"""`infercap profile import`: benchmark tools' result files -> a ModelProfile with a `measured` block.

Reads the JSON each tool writes, one point per run at a fixed concurrency:
- aiperf `profile_export_aiperf.json` (metrics as {"unit", "avg", ...}; concurrency from input_config:
  the profiling phase in 0.13, the loadgen block before);
- GuideLLM `benchmarks.json` (one point per benchmark of the sweep; metrics[...]["successful"]["mean"]);
- `vllm bench serve --save-result` JSON (output_throughput, mean_ttft_ms, mean_tpot_ms, max_concurrency;
  a rate-limited run without max_concurrency takes Little's law: request throughput x mean latency).
The files do not name the accelerator or its count, so the command's flags supply them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infercap.api import API_VERSION
from infercap.api.catalog import ModelProfileSpec
from infercap.api.manifests import ManifestError
from infercap.api.measured import MeasuredPoint
from infercap.api.types import Precision


class ProfileError(ManifestError):
    """A result file this command cannot read; the message is the one line to print (exit 2)."""


@dataclass(frozen=True)
class Run:
    """What a benchmark file says about one run."""

    tool: str
    input_tokens: float
    output_tokens: float
    concurrency: float
    output_tokens_per_second: float
    ttft_ms: float | None
    tpot_ms: float | None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _need(value: float | None, what: str, source: str) -> float:
    if value is None or not value > 0:
        raise ProfileError(f"{source}: no positive {what} in the file")
    return value


def _aiperf(doc: Mapping[str, Any], source: str) -> list[Run]:
    metrics: Mapping[str, Any] = doc["records"] if isinstance(doc.get("records"), dict) else doc

    def avg(name: str) -> float | None:
        m = metrics.get(name)
        return _num(m.get("avg")) if isinstance(m, dict) else None

    count = avg("request_count")
    isl = avg("input_sequence_length") or ((avg("total_isl") or 0) / count if count else None)
    osl = avg("output_sequence_length") or ((avg("total_osl") or 0) / count if count else None)
    config = doc.get("input_config") or {}
    # aiperf 0.13 lists load phases; earlier releases had one loadgen block.
    phases = [p for p in config.get("phases") or [] if isinstance(p, dict) and p.get("kind") == "profiling"]
    concurrency = (
        _num(phases[0].get("concurrency")) if phases else _num((config.get("loadgen") or {}).get("concurrency"))
    )
    if concurrency is None:
        rps, latency = avg("request_throughput"), avg("request_latency")
        concurrency = rps * latency / 1000 if rps and latency else None
    return [
        Run(
            tool=f"aiperf {doc['aiperf_version']}" if isinstance(doc.get("aiperf_version"), str) else "aiperf",
            input_tokens=_need(isl, "input sequence length", source),
            output_tokens=_need(osl, "output sequence length", source),
            concurrency=_need(concurrency, "concurrency (input_config.loadgen.concurrency)", source),
            output_tokens_per_second=_need(avg("output_token_throughput"), "output_token_throughput", source),
            ttft_ms=avg("time_to_first_token"),
            tpot_ms=avg("inter_token_latency"),
        )
    ]


def _guidellm(doc: Mapping[str, Any], source: str) -> list[Run]:
    runs = []
    meta = doc.get("metadata")
    version = meta.get("guidellm_version") if isinstance(meta, dict) else None
    tool = f"guidellm {version}" if isinstance(version, str) and version else "guidellm"
    for i, bench in enumerate(doc.get("benchmarks") or [], start=1):
        metrics = bench.get("metrics") or {}

        def mean(name: str, metrics: Mapping[str, Any] = metrics) -> float | None:
            m = metrics.get(name)
            if not isinstance(m, dict):
                return None
            part = m.get("successful") if isinstance(m.get("successful"), dict) else m.get("total")
            return _num(part.get("mean")) if isinstance(part, dict) else None

        where = f"{source}: benchmark {i}"
        strategy = ((bench.get("args") or {}).get("strategy") or {}) if isinstance(bench.get("args"), dict) else {}
        concurrency = mean("request_concurrency") or _num(strategy.get("streams"))
        runs.append(
            Run(
                tool=tool,
                input_tokens=_need(mean("prompt_token_count"), "prompt_token_count", where),
                output_tokens=_need(mean("output_token_count"), "output_token_count", where),
                concurrency=_need(concurrency, "request_concurrency", where),
                output_tokens_per_second=_need(mean("output_tokens_per_second"), "output_tokens_per_second", where),
                ttft_ms=mean("time_to_first_token_ms"),
                tpot_ms=mean("time_per_output_token_ms") or mean("inter_token_latency_ms"),
            )
        )
    if not runs:
        raise ProfileError(f"{source}: GuideLLM file without benchmarks")
    return runs


def _vllm(doc: Mapping[str, Any], source: str) -> list[Run]:
    completed = _need(_num(doc.get("completed")), "completed requests", source)
    concurrency = _num(doc.get("max_concurrency"))
    if concurrency is None:
        rps, latency = _num(doc.get("request_throughput")), _num(doc.get("mean_e2el_ms"))
        concurrency = rps * latency / 1000 if rps and latency else None
    return [
        Run(
            tool="vllm bench serve",
            input_tokens=_need(_num(doc.get("total_input_tokens")), "total_input_tokens", source) / completed,
            output_tokens=_need(_num(doc.get("total_output_tokens")), "total_output_tokens", source) / completed,
            concurrency=_need(concurrency, "max_concurrency", source),
            output_tokens_per_second=_need(_num(doc.get("output_throughput")), "output_throughput", source),
            ttft_ms=_num(doc.get("mean_ttft_ms")),
            tpot_ms=_num(doc.get("mean_tpot_ms")),
        )
    ]


def detect(doc: Any, source: str) -> list[Run]:
    """The runs in one parsed result file, whichever of the supported tools wrote it."""
    if isinstance(doc, dict):
        if isinstance(doc.get("benchmarks"), list):
            return _guidellm(doc, source)
        if "output_throughput" in doc and "completed" in doc:
            return _vllm(doc, source)
        records = doc["records"] if isinstance(doc.get("records"), dict) else doc
        if isinstance(records.get("output_token_throughput"), dict):
            return _aiperf(doc, source)
    raise ProfileError(
        f"{source}: not a result file of a supported tool (aiperf profile_export_aiperf.json, GuideLLM "
        "benchmarks.json, vllm bench serve --save-result JSON)"
    )


def read_runs(path: str) -> list[Run]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ProfileError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ProfileError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}") from None
    return detect(doc, path)


def to_points(
    runs: list[Run],
    *,
    accelerator: str,
    chips: int,
    precision: Precision | None,
    tensor_parallel: int | None,
    pipeline_parallel: int,
    engine: str,
    engine_version: str,
) -> list[MeasuredPoint]:
    return [
        MeasuredPoint(
            accelerator=accelerator,
            chips=chips,
            precision=precision,
            tensor_parallel=tensor_parallel or chips // pipeline_parallel,
            pipeline_parallel=pipeline_parallel,
            engine=engine,
            engine_version=engine_version,
            tool=r.tool,
            input_tokens=round(r.input_tokens, 1),
            output_tokens=round(r.output_tokens, 1),
            concurrency=round(r.concurrency, 2),
            output_tokens_per_second=round(r.output_tokens_per_second, 2),
            ttft_ms=None if r.ttft_ms is None else round(r.ttft_ms, 2),
            tpot_ms=None if r.tpot_ms is None else round(r.tpot_ms, 3),
        )
        for r in runs
    ]


def profile_document(model: ModelProfileSpec, points: list[MeasuredPoint], name: str | None = None) -> dict[str, Any]:
    """A ModelProfile manifest: the model's spec with these points added to (or replacing the same
    accelerator and size in) its measured block."""
    keys = {(p.accelerator, p.chips) for p in points}
    kept = [p for p in model.measured if (p.accelerator, p.chips) not in keys]
    spec = model.model_copy(update={"measured": kept + points}).model_dump(
        by_alias=True, exclude_none=True, exclude_defaults=True, mode="json"
    )
    spec.pop("id", None)
    spec["measured"] = [p.model_dump(by_alias=True, exclude_none=True, mode="json") for p in kept + points]
    return {"apiVersion": API_VERSION, "kind": "ModelProfile", "metadata": {"name": name or model.id}, "spec": spec}

#!/usr/bin/env python3
"""Side-by-side accuracy: infercap and NVIDIA AIConfigurator predicting the same public measurements.

Usage: hack/bench_accuracy.py [--per-group 3] [--json out.json]   (make bench-accuracy)

Dev-only: needs the optional extra `accuracy` (pip install -e '.[accuracy]', AIConfigurator 0.12.0,
Apache-2.0); the runtime never imports it. Rows: the calibration rows (best per configuration) that
AIConfigurator can model (TensorRT-LLM perf-overview and MLPerf rows of its model configs on H100, H200,
B200, GB200, up to 8 GPUs), --per-group per (model, accelerator, GPUs) spread over the lengths measured.

For each row:
- infercap: the leave-one-model-out prediction (factors refitted without that model's rows: the error
  a model outside the calibration data would see) and, for reference, the shipped in-sample one;
- AIConfigurator: `cli_estimate` in aggregated (in-flight batching) mode on the TensorRT-LLM database,
  at the row's precision and tensor parallelism (MoE: the better of expert- and tensor-parallel
  experts), swept over batch sizes 64, 256, 1024, 2048 (the maximum offline throughput is the best that fits)
  with an 8,192-token prefill budget per step (TensorRT-LLM's default max_num_tokens),
  output tokens/s for the whole group.
Prints one table and the medians; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "operator"))

from infercap import calibration, crossval  # noqa: E402
from infercap.api.types import Precision  # noqa: E402
from infercap.core.catalog import builtin_catalog  # noqa: E402

AIC_MODELS = {
    "llama-3.1-8b": "meta-llama/Meta-Llama-3.1-8B",
    "llama-3.1-70b": "meta-llama/Meta-Llama-3.1-70B",
    "llama-3.3-70b": "meta-llama/Meta-Llama-3.1-70B",
    "llama-3.1-405b": "meta-llama/Meta-Llama-3.1-405B",
    "llama-4-scout": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "llama-4-maverick": "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
    # Mixtral: AIConfigurator 0.12.0 ships the configs but tries to download them and fails offline.
    "qwen3-235b-a22b": "Qwen/Qwen3-235B-A22B",
    "qwen3-30b-a3b": "Qwen/Qwen3-30B-A3B",
}
AIC_SYSTEMS = {"h100": "h100_sxm", "h200": "h200_sxm", "b200": "b200_sxm", "gb200": "gb200"}
QUANT = {
    Precision.FP8: {"gemm_quant_mode": "fp8", "kvcache_quant_mode": "fp8", "moe_quant_mode": "fp8"},
    Precision.FP4: {"gemm_quant_mode": "nvfp4", "kvcache_quant_mode": "fp8", "moe_quant_mode": "nvfp4"},
}
BATCHES = (64, 256, 1024, 2048)
# Prefill token budget per step: TensorRT-LLM's default max_num_tokens (AIConfigurator's own default is
# the input length, which starves short-prompt offline runs of prefill and halves their throughput).
CTX_TOKENS = 8192


def aic_predict(row: calibration.Row, is_moe: bool) -> tuple[float | None, str]:
    from aiconfigurator.cli.api import cli_estimate

    quant = QUANT.get(row.precision, {}) if row.precision else {}
    layouts: list[dict[str, int]] = [{}]
    if is_moe:
        layouts = [{"moe_ep_size": row.chips, "moe_tp_size": 1}, {"moe_tp_size": row.chips, "moe_ep_size": 1}]
    best: float | None = None
    note = ""
    for layout in layouts:
        for bs in BATCHES:
            try:
                r = cli_estimate(
                    AIC_MODELS[row.model],
                    AIC_SYSTEMS[row.accelerator],
                    isl=row.input_tokens,
                    osl=row.output_tokens,
                    batch_size=bs,
                    ctx_tokens=CTX_TOKENS,
                    tp_size=row.chips,
                    **quant,
                    **layout,
                )
            except Exception as e:  # OOM at this batch, or a configuration AIC does not support
                note = str(e).splitlines()[0][:60]
                if "OOM" in str(e):
                    break
                continue
            tps = float(r.raw["tokens/s"])
            if math.isfinite(tps) and (best is None or tps > best):
                best = tps
    return best, ("" if best is not None else note)


def select(rows: list[calibration.Row], per_group: int) -> list[calibration.Row]:
    groups: dict[tuple[str, str, int], list[calibration.Row]] = defaultdict(list)
    for r in rows:
        if r.model in AIC_MODELS and r.accelerator in AIC_SYSTEMS and r.chips <= 8:
            groups[(r.model, r.accelerator, r.chips)].append(r)
    out: list[calibration.Row] = []
    for key in sorted(groups):
        g = sorted(groups[key], key=lambda r: (r.input_tokens + r.output_tokens, r.input_tokens))
        if len(g) > per_group:  # spread over the lengths measured (one: the middle one)
            if per_group == 1:
                g = [g[len(g) // 2]]
            else:
                step = (len(g) - 1) / (per_group - 1)
                g = [g[round(i * step)] for i in range(per_group)]
        out.extend(g)
    return out


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.0%}"


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--per-group", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the table as JSON")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    cat = builtin_catalog()
    rows = crossval.fit_rows(ROOT)
    chosen = select(rows, args.per_group)
    print(f"{len(chosen)} rows; leave-one-model-out refits...", file=sys.stderr)
    lomo = crossval.leave_one_model_out(cat, rows)
    lomo_by = {id(r.row): r.predicted for r in lomo.results}
    insample_by = {id(r.row): r.predicted for r in calibration.predict(cat, rows)}
    table: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i, row in enumerate(chosen):
        is_moe = cat.models[row.model].architecture.moe is not None
        aic, note = aic_predict(row, is_moe)
        entry = {
            "model": row.model,
            "accelerator": row.accelerator,
            "gpus": row.chips,
            "precision": str(row.precision or "native"),
            "input": row.input_tokens,
            "output": row.output_tokens,
            "moe": is_moe,
            "measured": row.measured,
            "infercap_lomo": lomo_by.get(id(row)),
            "infercap_in_sample": insample_by.get(id(row)),
            "aiconfigurator": aic,
            "aiconfigurator_note": note,
        }
        table.append(entry)
        print(
            f"  [{i + 1}/{len(chosen)}] {row.model} {row.accelerator} {time.perf_counter() - t0:.0f}s", file=sys.stderr
        )

    def err(pred: float | None, meas: float) -> float | None:
        return None if pred is None else pred / meas - 1

    print(
        f"{'configuration':44} {'measured':>9} {'infercap':>9} {'err':>6} {'AIC':>9} {'err':>6}   (output tok/s; "
        "infercap = leave-one-model-out)"
    )
    for e in table:
        cfg = f"{e['model']} {e['gpus']}x{e['accelerator']} {e['precision']} {e['input']}/{e['output']}"
        ic, ai = e["infercap_lomo"], e["aiconfigurator"]
        print(
            f"{cfg:44} {e['measured']:>9,.0f} {ic or 0:>9,.0f} {pct(err(ic, e['measured'])):>6} "
            f"{ai or 0:>9,.0f} {pct(err(ai, e['measured'])):>6}  {e['aiconfigurator_note']}"
        )
    both = [e for e in table if e["infercap_lomo"] and e["aiconfigurator"]]
    for label, subset in (
        ("all", both),
        ("dense", [e for e in both if not e["moe"]]),
        ("MoE", [e for e in both if e["moe"]]),
    ):
        if not subset:
            continue
        summary = []
        for key in ("infercap_lomo", "infercap_in_sample", "aiconfigurator"):
            errs = [abs(e[key] / e["measured"] - 1) for e in subset]
            worst = max(max(e[key] / e["measured"], e["measured"] / e[key]) for e in subset)
            summary.append(f"{key} median {statistics.median(errs):.1%} worst {worst:.2f}x")
        print(f"{label:5} n={len(subset):3}: " + "; ".join(summary))
    missing = [e for e in table if not e["aiconfigurator"]]
    print(f"AIConfigurator gave no prediction for {len(missing)} of {len(table)} rows")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Distil AIConfigurator's measured MoE kernel tables into compact efficiency curves (dev-time).

Usage: hack/distill_kernels.py [--write] [--framework vllm]

AIConfigurator (NVIDIA, Apache-2.0; PyPI `aiconfigurator`, installed by the optional extra `accuracy`)
ships per-GPU kernel latencies measured on the serving engines (aiconfigurator_core/systems/data/<gpu>/
<op>/<framework>/<version>/*.parquet). This script reads the grouped-GEMM MoE table (`moe_perf`) of each
GPU the catalog has, for one engine (vLLM by default, the newest version collected; SGLang where vLLM has
none), and reduces it to one curve per GPU and expert weight precision:

    achieved fraction of the roofline  vs  routed tokens per active expert,
    one curve per size class (weight elements of one expert on one rank, factor-4 bins)

where the roofline of one MoE layer call is max(weight bytes of the experts the tokens reach / peak
bandwidth, expert FLOPs / peak tensor throughput), with the peaks of infercap's own accelerator catalog,
so that the compute model can divide the same roofline by the curve. Rows: the power-law (1.01) routing
distribution AIConfigurator uses by default, expert tensor parallelism 1-8 without expert parallelism,
the fastest kernel of each shape and precision (engines pick their best backend; FP8 per-tensor and
block-scaled tables count as one FP8), the median over shapes in each
tokens-per-expert bin (log2 bins), held at its maximum below the tokens where it peaks.

pandas + pyarrow (dependencies of aiconfigurator) read the tables; the runtime never imports this.
--write puts the curves into operator/infercap/data/kernels.yaml (otherwise they are printed).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "operator/infercap/data/kernels.yaml"
ACCELERATORS = ROOT / "operator/infercap/data/accelerators.yaml"

# AIConfigurator system directory -> infercap accelerator id.
SYSTEMS = {
    "a100_sxm": "a100",
    "h100_sxm": "h100",
    "h200_sxm": "h200",
    "b200_sxm": "b200",
    "b300_sxm": "b300",
    "gb200": "gb200",
    "gb300": "gb300",
    "l40s": "l40s",
}
# AIConfigurator MoE dtype -> (infercap expert precision, bytes per weight element). FP4 formats carry
# block scales (infercap counts 0.5625 bytes per element for them).
DTYPES = {
    "bfloat16": ("bf16", 2.0),
    "fp8": ("fp8", 1.0),
    "fp8_block": ("fp8", 1.0),
    "nvfp4": ("fp4", 0.5625),
    "w4a16_mxfp4": ("fp4", 0.5625),
}
DISTRIBUTION = "power_law_1.01"
MAX_EXPERT_TP = 8


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in "".join(c if c.isdigit() else " " for c in v).split()[:4])


def table(system: str, framework: str) -> tuple[Path, str] | None:
    base = Path(str(resources.files("aiconfigurator_core"))) / "systems" / "data" / system / "moe" / framework
    versions = sorted(
        (p for p in base.glob("*") if (p / "moe_perf.parquet").exists()), key=lambda p: version_key(p.name)
    )
    return (versions[-1] / "moe_perf.parquet", versions[-1].name) if versions else None


def compute_tflops(acc: dict[str, Any], precision: str) -> float:
    # Weight-only formats run BF16 math where the chip has no tensor cores for them (infercap.core.shape).
    tf: dict[str, float] = acc["denseTflops"]
    return tf.get(precision, tf["bf16"])


def distil(path: Path, acc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    import pandas as pd

    df = pd.read_parquet(path)
    df = df[(df.distribution == DISTRIBUTION) & (df.moe_ep_size == 1) & (df.moe_tp_size <= MAX_EXPERT_TP)]
    df = df[df.moe_dtype.isin(list(DTYPES))]
    df = df.assign(precision=df.moe_dtype.map(lambda d: DTYPES[d][0]))
    keys = ["precision", "num_tokens", "hidden_size", "inter_size", "topk", "num_experts", "moe_tp_size"]
    best = df.groupby(keys, as_index=False)["latency"].min()
    bw = acc["memoryBandwidthTBps"] * 1e12
    # (precision, log2 expert size bin) -> log2 tokens-per-expert bin -> efficiencies
    bins: dict[tuple[str, int], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in best.itertuples(index=False):
        precision = r.precision
        bpe = {"bf16": 2.0, "fp8": 1.0, "fp4": 0.5625}[precision]
        e, k, t = r.num_experts, r.topk, r.num_tokens
        covered = e * (1.0 - (1.0 - k / e) ** t)
        per_expert = t * k / covered
        matrix = 3 * r.hidden_size * r.inter_size / r.moe_tp_size  # gate, up, down of one expert on a rank
        roofline = max(covered * matrix * bpe / bw, 2 * matrix * t * k / (compute_tflops(acc, precision) * 1e12))
        eff = roofline / (r.latency * 1e-3)
        size_bin = 2 * round(math.log2(matrix) / 2)  # factor-4 steps of weight elements per expert and rank
        bins[(precision, size_bin)][round(math.log2(per_expert))].append(eff)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (precision, size_bin), by_bin in sorted(bins.items()):
        xs = sorted(b for b, v in by_bin.items() if len(v) >= 3)
        if len(xs) < 4:
            continue
        ys = [round(min(1.0, statistics.median(by_bin[b])), 3) for b in xs]
        # Left of its maximum the curve is held at the maximum: the losses of the smallest calls are launch
        # latency, which the compute model counts in its per-layer step overhead, and a curve that rises
        # with tokens where the kernel streams a fixed set of weights would make a bigger batch faster.
        peak = ys.index(max(ys))
        ys[:peak] = [ys[peak]] * peak
        out[precision].append(
            {"expertElements": float(2**size_bin), "tokensPerExpert": [float(2**b) for b in xs], "efficiency": ys}
        )
    return dict(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--framework", default="vllm")
    args = ap.parse_args()
    accs = {a["id"]: a for a in yaml.safe_load(ACCELERATORS.read_text(encoding="utf-8"))}
    version = metadata.version("aiconfigurator_core")
    curves: dict[str, Any] = {}
    for system, acc_id in SYSTEMS.items():
        found = table(system, args.framework) or table(system, "sglang")
        if found is None:
            print(f"{acc_id}: no MoE table", file=sys.stderr)
            continue
        path, engine_version = found
        engine = path.parent.parent.name
        grouped = distil(path, accs[acc_id])
        curves[acc_id] = {"engine": f"{engine} {engine_version}", "groupedGemm": grouped}
        for precision, sized in grouped.items():
            for c in sized:
                pts = " ".join(f"{x:g}:{y:.2f}" for x, y in zip(c["tokensPerExpert"], c["efficiency"], strict=True))
                size = f"2^{round(math.log2(c['expertElements']))}"
                print(f"{acc_id:6} {engine} {engine_version:8} {precision:4} {size:5} {pts}", file=sys.stderr)
    doc = {
        "source": (
            f"aiconfigurator-core {version} (PyPI package of NVIDIA AIConfigurator), systems/data/<gpu>/moe/"
            "<engine>/<version>/moe_perf.parquet, distilled by hack/distill_kernels.py"
        ),
        "licence": "Apache-2.0 (SPDX headers of the package's data; Copyright NVIDIA CORPORATION & AFFILIATES)",
        "method": (
            "grouped-GEMM MoE latency -> achieved fraction of the roofline max(active expert weight bytes / "
            "peak bandwidth, expert FLOPs / peak tensor FLOPs) with infercap's peaks; routing power_law_1.01, "
            f"expert TP 1-{MAX_EXPERT_TP}, no EP, fastest kernel per shape, median over shapes per log2 bin of "
            "routed tokens per active expert, one curve per factor-4 bin of weight elements per expert and rank"
        ),
        "accelerators": curves,
    }
    text = (
        "# Measured kernel efficiency curves, distilled from AIConfigurator's shipped tables. Generated by\n"
        "# hack/distill_kernels.py --write; do not edit by hand. Used by infercap.core.compute (source\n"
        "# kernel-measured) for the accelerators listed; others stay analytic.\n"
        + yaml.safe_dump(doc, sort_keys=False, width=120, default_flow_style=None)
    )
    if args.write:
        OUT.write_text(text, encoding="utf-8")
        print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

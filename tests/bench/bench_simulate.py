#!/usr/bin/env python3
"""Benchmark of `infercap simulate` on the public one-hour Azure code trace (prints figures, asserts
nothing): CPU seconds of the whole replay (six policies, the oracle's DP and its refinement) at 5x and
20x the trace's rate, and what each policy cost and attained.

Run: python tests/bench/bench_simulate.py
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path

from infercap.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "data" / "traces" / "AzureLLMInferenceTrace_code.csv"


def run(scale: float) -> None:
    out = io.StringIO()
    started = time.process_time()
    with contextlib.redirect_stdout(out):
        main(
            [
                "simulate",
                "--trace",
                str(TRACE),
                "--model",
                "llama-3.1-70b",
                "--accelerators",
                "h100,h200",
                "--rate-scale",
                str(scale),
                "-o",
                "json",
            ]
        )
    cpu = time.process_time() - started
    d = json.loads(out.getvalue())
    print(f"x{scale:g}: {d['trace']['requests']:,} requests, {cpu:.1f} CPU s in all ({d['cpuSeconds']} s replaying)")
    for name, p in d["policies"].items():
        print(f"  {name:16s} {p['cost']:>10}  {p['sloAttainment']:.2%}  {p['costVsOracle']}x the oracle")
    print(f"  oracle lower bound {d['oracleLowerBound']}")


if __name__ == "__main__":
    for k in (5.0, 20.0):
        run(k)

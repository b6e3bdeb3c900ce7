#!/usr/bin/env python3
"""Fit the per-family efficiency factors of the compute model to measured throughputs, and say how well
the fitted model predicts configurations it has not seen.

Usage: hack/calibrate.py [--show] [--cv] [--write] [--family hopper] [--model llama-3.1-8b]

Rows: data/calibration.csv and data/calibration-extended.csv, offline runs with input/output lengths,
the best (newest-engine) figure per configuration, dstack runs left out (see README). The fit
(infercap.fit: bounded coordinate search from a neutral start, mean absolute log error, weak prior toward
typical MBU/MFU) needs nothing beyond the runtime dependencies and takes seconds.

--cv adds leave-one-model-out and leave-one-accelerator-family-out errors: each fold refits on the other
rows and predicts the held-out ones; these are the figures to quote as the model's accuracy.
--write puts the fitted factors into operator/infercap/data/efficiency.yaml (otherwise they are printed).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "operator"))

from infercap import calibration, crossval, fit  # noqa: E402
from infercap.api.catalog import Efficiency  # noqa: E402
from infercap.core.catalog import Catalog, builtin_catalog  # noqa: E402

EFFICIENCY_YAML = ROOT / "operator/infercap/data/efficiency.yaml"


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def report(cat: Catalog, rows: list[calibration.Row], label: str) -> None:
    res = calibration.predict(cat, rows)
    by: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in res:
        by[(r.row.model, r.row.accelerator)].append(r.error)
    print(f"\n{label}:")
    print("\n".join(crossval.in_sample(cat, rows).lines()))
    for (m, a), errs in sorted(by.items()):
        print(
            f"  {m:18} {a:7} n={len(errs):3}  median {statistics.median(errs):+6.0%}  "
            f"range {min(errs):+5.0%} .. {max(errs):+5.0%}"
        )


def _yaml_value(eff: Efficiency, field: str) -> str:
    v = getattr(eff, field)
    if isinstance(v, int):
        return str(v)
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.4g}"


def write_yaml(cat: Catalog, families: list[str]) -> None:
    """Replace the fitted factors of these families in efficiency.yaml, keeping its comments."""
    aliases = {name: f.alias or name for name, f in Efficiency.model_fields.items()}
    by_alias = {aliases[k]: k for k in fit.PARAMS}
    out, family = [], None
    for text in EFFICIENCY_YAML.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^  ([a-z0-9-]+):\s*$", text)
        if m:
            family = m.group(1)
        m = re.match(r"^    ([A-Za-z]+): .*$", text)
        if m and family in families and m.group(1) in by_alias:
            eff = cat.families[family].efficiency
            out.append(f"    {m.group(1)}: {_yaml_value(eff, by_alias[m.group(1)])}")
        else:
            out.append(text)
    EFFICIENCY_YAML.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"wrote {EFFICIENCY_YAML.relative_to(ROOT)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--family", action="append", help="families to fit (default: all calibrated)")
    ap.add_argument("--sweeps", type=int, default=6, help="coordinate-search sweeps per fit")
    ap.add_argument("--show", action="store_true", help="only report errors with the current factors")
    ap.add_argument("--cv", action="store_true", help="add leave-one-model-out / -family-out errors")
    ap.add_argument("--write", action="store_true", help="write the fitted factors into efficiency.yaml")
    ap.add_argument("--model", action="append", help="fit on these catalog models only (exploration)")
    args = ap.parse_args()
    cat = builtin_catalog()
    rows = crossval.fit_rows(ROOT)
    if args.model:
        rows = [r for r in rows if r.model in args.model]
    report(cat, rows, "current factors")
    fitted = cat
    if not args.show:
        families = args.family or sorted(f for f, v in cat.families.items() if v.calibrated)
        fitted = fit.fit_catalog(cat, rows, families, sweeps=args.sweeps, log=log)
        report(fitted, rows, "fitted factors (in-sample)")
        if args.write:
            write_yaml(fitted, families)
        else:
            print("\nfamilies:")
            for family in families:
                eff = fitted.families[family].efficiency
                print(f"  {family}:")
                for k, v in eff.model_dump(by_alias=True).items():
                    print(f"    {k}: {round(v, 3) if isinstance(v, float) else v}")
    if args.cv:
        print("\nout-of-sample (each fold refitted without its rows):")
        for rep in (
            crossval.in_sample(fitted, rows),
            crossval.leave_one_model_out(cat, rows, args.sweeps, log),
            crossval.leave_one_family_out(cat, rows, args.sweeps, log),
        ):
            print("\n".join(rep.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

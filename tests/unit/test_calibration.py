"""The compute model against measured throughputs (data/calibration.csv). Prints the errors; fails
only if the median absolute error of `estimate` on the rows with input/output lengths exceeds 20 %."""

from __future__ import annotations

from pathlib import Path

from infercap import calibration
from infercap.core.catalog import Catalog


def _report(label: str, results: list[calibration.Result]) -> calibration.Summary:
    s = calibration.summarize(results)
    print(
        f"\n{label}: {s.count} rows, median |error| {s.median_abs_error:.1%}, worst {s.worst_abs_error:.1%}, "
        f"median signed {s.median_signed_error:+.1%}"
    )
    for r in results:
        print(
            f"  {r.row.model:16} {r.row.chips:>2} x {r.row.accelerator:7} {r.row.input_tokens:>6}/"
            f"{r.row.output_tokens:<5} measured {r.row.measured:>9,.0f}  predicted {r.predicted:>9,.0f}  "
            f"{r.error:+.0%}"
        )
    return s


def test_estimate_matches_calibration_rows(catalog: Catalog, root: Path) -> None:
    rows = calibration.load_rows(root / "data" / "calibration.csv")
    assert len(rows) >= 10, "every calibration row with input/output lengths is used"
    results = calibration.predict(catalog, rows)
    assert len(results) == len(rows), "every row's configuration fits"
    s = _report("calibration.csv", results)
    assert s.median_abs_error <= 0.20


def test_extended_rows_are_reported(catalog: Catalog, root: Path) -> None:
    # Reported for information (engine versions differ 2x between rows); a loose sanity bound only.
    rows = calibration.load_rows(root / "data" / "calibration-extended.csv")
    rows = [r for r in rows if "dstack" not in r.scenario]
    s = calibration.summarize(calibration.predict(catalog, rows))
    print(
        f"\ncalibration-extended.csv (engine-version spread included): {s.count} rows, "
        f"median |error| {s.median_abs_error:.1%}"
    )
    assert s.count > 1000
    assert s.median_abs_error < 0.35


def test_row_parsing() -> None:
    rows = list(
        calibration.parse_rows(
            [
                {
                    "model": "Llama-3.1-8B-Instruct",
                    "accelerator": "NVIDIA H100",
                    "accelerator_count": "1",
                    "precision": "FP8",
                    "scenario": "TensorRT-LLM perf overview (offline max throughput)",
                    "input_tokens": "128",
                    "output_tokens": "2048",
                    "measured_tokens_per_s": "22714",
                    "notes": "TP1",
                },
                {
                    "model": "LLaMA v3.1 70B",
                    "accelerator": "NVIDIA H200 141GB HBM3",
                    "accelerator_count": "8",
                    "precision": "FP8",
                    "scenario": "offline",
                    "input_tokens": "1000",
                    "output_tokens": "1000",
                    "measured_tokens_per_s": "1",
                    "notes": "TP=4, PP=2",
                },
                {
                    "model": "GPTJ 6B",
                    "accelerator": "NVIDIA H100",
                    "accelerator_count": "1",
                    "precision": "FP8",
                    "scenario": "offline",
                    "input_tokens": "1",
                    "output_tokens": "1",
                    "measured_tokens_per_s": "1",
                    "notes": "",
                },
                {
                    "model": "Llama-3.1-8B-Instruct",
                    "accelerator": "NVIDIA H100",
                    "accelerator_count": "1",
                    "precision": "FP8",
                    "scenario": "MLPerf Server",
                    "input_tokens": "",
                    "output_tokens": "",
                    "measured_tokens_per_s": "1",
                    "notes": "",
                },
            ]
        )
    )
    assert [(r.model, r.accelerator, r.chips) for r in rows] == [
        ("llama-3.1-8b", "h100", 1),
        ("llama-3.1-70b", "h200", 8),
    ]

"""Measured profiles: benchmark files -> ModelProfile `measured` block -> plans that say `source: measured`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from infercap import profiles
from infercap.api.manifests import parse_documents
from infercap.api.measured import MeasuredPoint
from infercap.api.types import Precision
from infercap.cli.main import main
from infercap.core import measured
from infercap.core.catalog import Catalog
from infercap.core.estimate import Source, estimate_replica

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
# The files whose request lengths cover the planner round trip below (the real runs are at 200/50 tokens).
FILES = sorted(str(p) for p in FIX.glob("*.json") if "0.8.1" not in p.name and "0.33.0" not in p.name)


def test_each_tool_is_read() -> None:
    vllm = json.loads((FIX / "vllm-bench-serve-c16.json").read_text())
    [run] = profiles.read_runs(str(FIX / "vllm-bench-serve-c16.json"))
    assert run.tool == "vllm bench serve"
    assert run.concurrency == vllm["max_concurrency"] == 16
    assert run.input_tokens == vllm["total_input_tokens"] / vllm["completed"]
    assert run.output_tokens_per_second == vllm["output_throughput"]
    assert run.tpot_ms == vllm["mean_tpot_ms"]

    guide = json.loads((FIX / "guidellm-benchmarks.json").read_text())
    runs = profiles.read_runs(str(FIX / "guidellm-benchmarks.json"))
    assert [r.tool for r in runs] == ["guidellm"] * len(guide["benchmarks"])
    assert [r.concurrency for r in runs] == [8, 32, 128, 256]
    first = guide["benchmarks"][0]["metrics"]
    assert runs[0].output_tokens_per_second == first["output_tokens_per_second"]["successful"]["mean"]
    assert runs[0].input_tokens == 2000 and runs[0].output_tokens == 400

    # GuideLLM: real 0.8.1 output (hack/profile-fixtures.sh with GUIDELLM=1), a concurrent sweep against the
    # mock engine; the file's version names the tool, and the streams the tool ran are what it measured.
    real = json.loads((FIX / "guidellm-0.8.1-concurrent.json").read_text())
    runs = profiles.read_runs(str(FIX / "guidellm-0.8.1-concurrent.json"))
    assert [r.tool for r in runs] == ["guidellm 0.8.1"] * 3
    streams = [b["config"]["strategy"]["streams"] for b in real["benchmarks"]]
    assert streams == [4, 16, 48]
    for run, bench, c in zip(runs, real["benchmarks"], streams, strict=True):
        m = bench["metrics"]
        assert run.concurrency == m["request_concurrency"]["successful"]["mean"] <= c
        assert run.output_tokens == 50
        assert run.output_tokens_per_second == m["output_tokens_per_second"]["successful"]["mean"]
        assert run.ttft_ms == m["time_to_first_token_ms"]["successful"]["mean"]
    assert runs[0].output_tokens_per_second < runs[1].output_tokens_per_second < runs[2].output_tokens_per_second

    # vllm bench serve: real vLLM 0.33.0 output (VLLM=1 hack/profile-fixtures.sh), --max-concurrency 4, 16, 48.
    served = []
    for c in (4, 16, 48):
        path = FIX / f"vllm-0.33.0-bench-serve-c{c}.json"
        doc = json.loads(path.read_text())
        [run] = profiles.read_runs(str(path))
        assert run.tool == "vllm bench serve" and run.concurrency == c == doc["max_concurrency"]
        assert run.input_tokens == 200 and run.output_tokens == 50
        assert run.output_tokens_per_second == doc["output_throughput"] and run.tpot_ms == doc["mean_tpot_ms"]
        served.append(run)
    assert served[0].output_tokens_per_second < served[1].output_tokens_per_second < served[2].output_tokens_per_second

    # aiperf: real output (hack/profile-fixtures.sh), three concurrencies against the mock engine.
    for c in (4, 16, 48):
        path = FIX / f"aiperf-0.13.0-c{c}.json"
        aiperf = json.loads(path.read_text())
        [run] = profiles.read_runs(str(path))
        assert run.tool == "aiperf 0.13.0"
        assert run.concurrency == c == aiperf["input_config"]["phases"][0]["concurrency"]
        assert run.input_tokens == 200 and run.output_tokens == 50
        assert run.output_tokens_per_second == aiperf["output_token_throughput"]["avg"]
        assert run.ttft_ms == aiperf["time_to_first_token"]["avg"]
    # The mock engine's step grows with the running requests: throughput up, stream speed down.
    runs = [profiles.read_runs(str(FIX / f"aiperf-0.13.0-c{c}.json"))[0] for c in (4, 16, 48)]
    assert runs[0].output_tokens_per_second < runs[1].output_tokens_per_second < runs[2].output_tokens_per_second
    assert runs[0].tpot_ms is not None and runs[2].tpot_ms is not None and runs[0].tpot_ms < runs[2].tpot_ms


def test_aiperf_before_0_13_names_concurrency_in_loadgen() -> None:
    doc = json.loads((FIX / "aiperf-0.13.0-c16.json").read_text())
    doc["input_config"] = {"loadgen": {"concurrency": 100}}
    del doc["aiperf_version"]
    [run] = profiles.detect(doc, "old.json")
    assert run.concurrency == 100 and run.tool == "aiperf"


def test_vllm_rate_run_without_max_concurrency_uses_littles_law() -> None:
    doc = json.loads((FIX / "vllm-bench-serve-c16.json").read_text())
    doc["max_concurrency"] = None
    [run] = profiles.detect(doc, "x")
    assert run.concurrency == pytest.approx(doc["request_throughput"] * doc["mean_e2el_ms"] / 1000)


@pytest.mark.parametrize(
    "doc",
    [{"a": 1}, [], {"benchmarks": []}, {"output_throughput": 1, "completed": 0}],
)
def test_unreadable_files_are_refused_with_a_line(doc: object) -> None:
    with pytest.raises(profiles.ProfileError):
        profiles.detect(doc, "f.json")


def _import(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    base = ["profile", "import", *FILES, "--model", "llama-3.1-8b", "--accelerator", "h100", "--chips", "1"]
    rc = main([*base, "--precision", "fp8", "--engine", "vllm", "--engine-version", "0.11.0", *extra])
    assert rc == 0
    return capsys.readouterr().out


def test_round_trip_into_the_planner(capsys: pytest.CaptureFixture[str], catalog: Catalog) -> None:
    text = _import(capsys)
    m = parse_documents(list(yaml.safe_load_all(text)), "profile.yaml")
    [model] = m.models
    assert model.id == "llama-3.1-8b" and len(model.measured) == 9
    assert {p.tool for p in model.measured} == {"aiperf 0.13.0", "guidellm", "vllm bench serve"}
    cat = catalog.with_overrides(m.models)
    kwargs = {"model_id": "llama-3.1-8b", "accelerator_id": "h100", "chips": 1, "precision": Precision.FP8}
    inside = estimate_replica(cat, input_tokens=1500, output_tokens=300, min_stream_tokens_per_second=60, **kwargs)
    assert inside.source == Source.MEASURED and inside.measured is not None and inside.measured.covered
    model_only = estimate_replica(
        catalog, input_tokens=1500, output_tokens=300, min_stream_tokens_per_second=60, **kwargs
    )
    assert model_only.source == Source.CALIBRATED
    assert inside.performance is not None and model_only.performance is not None
    assert inside.performance.stream_tokens_per_second >= 60
    # Outside the measured lengths the points are not used, and the estimate says why.
    outside = estimate_replica(cat, input_tokens=8000, output_tokens=300, min_stream_tokens_per_second=60, **kwargs)
    assert outside.source == Source.CALIBRATED
    assert outside.measured is not None and "not extrapolated" in outside.measured.reason
    # Another size or accelerator has no points.
    other = estimate_replica(cat, input_tokens=1500, output_tokens=300, **{**kwargs, "chips": 2})
    assert other.source == Source.CALIBRATED and other.measured is None


def test_import_adds_to_an_existing_profile(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(_import(capsys))
    one = str(FIX / "aiperf-0.13.0-c16.json")
    rc = main(
        ["profile", "import", one, "--model", "llama-3.1-8b", "--accelerator", "h200", "--chips", "1", "-f", str(path)]
    )
    assert rc == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert sorted({(p["accelerator"], p["tool"]) for p in doc["spec"]["measured"]}) == [
        ("h100", "aiperf 0.13.0"),
        ("h100", "guidellm"),
        ("h100", "vllm bench serve"),
        ("h200", "aiperf 0.13.0"),
    ]


def test_cli_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args in (
        [str(bad), "--model", "llama-3.1-8b", "--accelerator", "h100", "--chips", "1"],
        [FILES[0], "--model", "no-such-model", "--accelerator", "h100", "--chips", "1"],
        [FILES[0], "--model", "llama-3.1-8b", "--accelerator", "h100", "--chips", "0"],
    ):
        with pytest.raises(SystemExit) as e:
            main(["profile", "import", *args])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("infercap: error:") and err.count("\n") == 1 and "Traceback" not in err


def _pt(i: float, o: float, c: float, tps: float) -> MeasuredPoint:
    return MeasuredPoint(accelerator="h100", chips=1, input_tokens=i, output_tokens=o, concurrency=c,
                         output_tokens_per_second=tps)  # fmt: skip


def test_fit_is_exact_at_points_between_them_and_refuses_outside() -> None:
    pts = [_pt(1000, 200, 16, 2000.0), _pt(1000, 200, 64, 6000.0)]

    def predict(i: float, o: float, c: float) -> float:
        return 100.0 * c  # the model: 1,600 and 6,400 at the points

    at = measured.fit(pts, 1000, 200, 16, predict)
    assert at.ratio == pytest.approx(2000 / 1600)
    mid = measured.fit(pts, 1000, 200, 32, predict)
    assert mid.ratio is not None and 6000 / 6400 < mid.ratio < 2000 / 1600
    for args in ((1000, 200, 128), (1000, 200, 8), (5000, 200, 32), (1000, 900, 32)):
        out = measured.fit(pts, *args, predict)
        assert not out.covered and "not extrapolated" in out.reason
    assert measured.fit(pts, 1050, 210, 32, predict).covered  # 10 % slack on lengths


def test_matching_filters_accelerator_size_and_precision() -> None:
    pts = [_pt(1000, 200, 16, 1.0), _pt(1000, 200, 16, 1.0).model_copy(update={"precision": Precision.BF16})]
    assert len(measured.matching(pts, "h100", 1, Precision.FP8)) == 1
    assert len(measured.matching(pts, "h100", 1, Precision.BF16)) == 2
    assert measured.matching(pts, "h200", 1, Precision.FP8) == []


# Real tool output only: aiperf 0.13.0, `vllm bench serve` of vLLM 0.33.0 and GuideLLM 0.8.1, run by
# hack/profile-fixtures.sh against the local mock engine.
REAL = sorted(
    str(p) for p in FIX.glob("*.json") if p.name.startswith(("aiperf-0.13.0", "vllm-0.33.0", "guidellm-0.8.1"))
)


def test_real_tool_output_round_trips_through_infercap_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """import -> ModelProfile -> `infercap plan`: source measured, the replica's throughput inside what the
    tools measured around its batch, and the replicas that throughput needs. The files do not name the
    hardware: they are the mock's figures, imported as an a100 (one of the accelerators whose model at 200/50
    tokens and a 80 tokens/s stream floor lands inside the measured concurrencies, 4-48)."""
    assert len(REAL) == 7
    argv = ["profile", "import", *REAL, "--model", "llama-3.1-8b", "--accelerator", "a100", "--chips", "1"]
    assert main([*argv, "--engine", "vllm", "--engine-version", "0.33.0"]) == 0
    profile = tmp_path / "profile.yaml"
    profile.write_text(capsys.readouterr().out)
    points = yaml.safe_load(profile.read_text())["spec"]["measured"]
    assert {p["tool"] for p in points} == {"aiperf 0.13.0", "vllm bench serve", "guidellm 0.8.1"}
    deployment = tmp_path / "deployment.yaml"
    spec = {
        "model": "llama-3.1-8b",
        "accelerators": ["a100"],
        "traffic": {"requestsPerSecond": 100, "inputTokens": 200, "outputTokens": 50},
        "slo": {"outputTokensPerSecondPerStream": 80},
    }
    doc = {"apiVersion": "infercap.dev/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "m"}, "spec": spec}
    deployment.write_text(yaml.safe_dump(doc))

    def planned(*files: Path) -> dict[str, object]:
        assert main(["plan", *(x for f in files for x in ("-f", str(f))), "-o", "json"]) == 0
        out: dict[str, object] = json.loads(capsys.readouterr().out)["plan"]
        return out

    model, got = planned(deployment), planned(profile, deployment)
    assert model["source"] == "calibrated" and got["source"] == "measured"
    per = got["perReplica"]
    assert isinstance(per, dict) and per["streamTokensPerSecond"] >= 80
    batch, tps = per["batch"], per["outputTokensPerSecond"]
    at_length = [p for p in points if p["inputTokens"] == 200]  # aiperf and vllm: 200 input tokens
    below = [p["outputTokensPerSecond"] for p in at_length if p["concurrency"] <= batch]
    above = [p["outputTokensPerSecond"] for p in at_length if p["concurrency"] >= batch]
    assert below and above and min(below) <= tps <= max(above)
    headroom = 0.2  # spec.headroom's default
    assert got["replicas"] == math.ceil(100 * 50 / (tps * (1 - headroom)) - 1e-9)
    model_per = model["perReplica"]
    assert isinstance(model_per, dict)  # the model alone is close here (the mock is about an a100's speed)...
    assert abs(tps / model_per["outputTokensPerSecond"] - 1) > 0.03  # ...but the plan is the measurement's
    print(
        f"\nmodel {model_per['batch']} x {model_per['outputTokensPerSecond']} tok/s, {model['replicas']} replicas; "
        f"measured {batch} x {tps} tok/s, {got['replicas']} replicas"
    )

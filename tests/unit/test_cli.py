"""The `infercap` command line: every command, every output format, every bad-input path.

Bad input must give exit code 2 and exactly one line on stderr that names the problem, never a
traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infercap.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "llama-3.1-70b.yaml")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def fails_with(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = run(capsys, *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("infercap: error: ")
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


MANIFEST = """
apiVersion: infercap.dev/v1alpha1
kind: ModelDeployment
metadata: {name: demo}
spec:
  model: %(model)s
  traffic: {%(traffic)s, inputTokens: 1000, outputTokens: 200}
"""


def manifest(model: str = "llama-3.1-8b", traffic: str = "requestsPerSecond: 5") -> str:
    return MANIFEST % {"model": model, "traffic": traffic}


# --------------------------------------------------------------------------- plan


def test_plan_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "-f", EXAMPLE)
    assert code == 0
    for needle in ("ModelDeployment llama-70b-chat", "plan:", "cost:", "$/MTOK", "Why:"):
        assert needle in out


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_plan_structured(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, _ = run(capsys, "plan", "-f", EXAMPLE, "-o", fmt)
    assert code == 0
    data: dict[str, Any] = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    assert data["name"] == "llama-70b-chat"
    assert data["plan"]["accelerator"] in ("h100", "h200")
    assert data["plan"]["replicas"] >= 1 and data["plan"]["nodes"] >= 1
    assert float(data["cost"]["monthly"]) > 0
    assert data["plan"]["source"] in ("calibrated", "analytic")
    assert data["explanation"]


def test_plan_several_documents_and_profiles(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = (
        manifest()
        + "---\n"
        + manifest("mixtral-8x7b").replace("demo", "demo2")
        + """---
apiVersion: infercap.dev/v1alpha1
kind: AcceleratorProfile
metadata: {name: h100}
spec:
  displayName: H100 at our negotiated price
  vendor: nvidia
  family: hopper
  memoryGiB: 79.6
  memoryBandwidthTBps: 3.35
  denseTflops: {bf16: 989, fp8: 1979}
  scaleUpDomain: 8
  scaleUpBandwidthGBps: 900
  scaleOutBandwidthGBps: 50
  nodeShapes: [{chips: 8}]
  resourceName: nvidia.com/gpu
  nodeLabels: {generic: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}}
  price: {perChipHour: "0.05", source: negotiated}
"""
    )
    code, out, _ = run(capsys, "plan", "-f", write(tmp_path, text), "-o", "json")
    assert code == 0
    plans = json.loads(out)
    assert [p["name"] for p in plans] == ["demo", "demo2"]
    # The negotiated price makes H100 the cheapest choice.
    assert all(p["plan"]["accelerator"] == "h100" for p in plans)


def test_plan_price_override(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = write(tmp_path, manifest().replace("model: llama-3.1-8b", "model: llama-3.1-8b\n  accelerators: [h100]"))
    _, out1, _ = run(capsys, "plan", "-f", f, "-o", "json")
    _, out2, _ = run(capsys, "plan", "-f", f, "-o", "json", "--price", "h100=1.00")
    a, b = json.loads(out1), json.loads(out2)
    assert float(b["cost"]["hourly"]) < float(a["cost"]["hourly"])


def test_plan_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(manifest()))
    code, out, _ = run(capsys, "plan", "-f", "-", "-o", "json")
    assert code == 0 and json.loads(out)["name"] == "demo"


# --------------------------------------------------------------------------- estimate


def test_estimate_json_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "estimate",
        "--model",
        "llama-3.1-8b",
        "--accelerator",
        "h100",
        "--chips",
        "1",
        "--precision",
        "fp8",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "1000",
        "-o",
        "json",
    )
    assert code == 0
    d = json.loads(out)
    for key in ("outputTokensPerSecond", "requestsPerSecond", "batch", "bound", "fits", "memory"):
        assert key in d
    assert d["fits"] is True and d["outputTokensPerSecond"] > 1000
    assert d["requestsPerSecond"] == pytest.approx(d["outputTokensPerSecond"] / 1000, rel=0.01)
    assert d["memory"]["weightsGiB"] > 7


def test_estimate_table_and_slo(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "estimate",
        "--model",
        "llama-3.1-70b",
        "--accelerator",
        "h200",
        "--chips",
        "2",
        "--input-tokens",
        "2000",
        "--output-tokens",
        "300",
        "--stream-tokens-per-second",
        "40",
    )
    assert code == 0
    assert "stream-speed-slo" in out and "throughput" in out


def test_estimate_that_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "estimate",
        "--model",
        "llama-3.1-405b",
        "--accelerator",
        "l4",
        "--chips",
        "1",
        "--input-tokens",
        "100",
        "--output-tokens",
        "100",
        "-o",
        "json",
    )
    assert code == 0
    d = json.loads(out)
    assert d["fits"] is False and d["outputTokensPerSecond"] == 0


# --------------------------------------------------------------------------- compare and catalog


def test_compare_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "compare", "gpt-5.5", "gemini-3.5-flash")
    assert code == 0
    for needle in ("PUBLISHED", "ANALYTIC", "RATIOS", "WHERE THEY DISAGREE", "2.8", "289"):
        assert needle in out
    code, out, _ = run(capsys, "compare", "gpt-5.5", "gemini-3.5-flash", "-o", "json")
    d = json.loads(out)
    assert code == 0 and len(d["models"]) == 2 and d["disagreements"]


@pytest.mark.parametrize("what", ["models", "accelerators"])
def test_catalog(capsys: pytest.CaptureFixture[str], what: str) -> None:
    code, out, _ = run(capsys, "catalog", what)
    assert code == 0 and ("gpt-5.5" in out if what == "models" else "tpu-v6e" in out)
    code, out, _ = run(capsys, "catalog", what, "-o", "json")
    assert code == 0 and len(json.loads(out)) >= 17


# --------------------------------------------------------------------------- bad input


def test_unknown_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = fails_with(capsys, "plan", "-f", write(tmp_path, manifest("llama-9")))
    assert "spec.model" in line and "unknown model 'llama-9'" in line and "llama-3.1-8b" in line
    assert "[UnknownModel]" in line


def test_unknown_accelerator_in_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails_with(
        capsys,
        "estimate",
        "--model",
        "llama-3.1-8b",
        "--accelerator",
        "h1000",
        "--chips",
        "1",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
    )
    assert "--accelerator" in line and "did you mean" in line


def test_negative_traffic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = fails_with(capsys, "plan", "-f", write(tmp_path, manifest(traffic="requestsPerSecond: -3")))
    assert "spec.traffic.requestsPerSecond: must be greater than 0" in line


def test_missing_traffic_unit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = manifest(traffic="inputTokens: 1000").replace(", inputTokens: 1000, outputTokens: 200", "") + ""
    text = text.replace("{inputTokens: 1000}", "{inputTokens: 1000, outputTokens: 200}")
    line = fails_with(capsys, "plan", "-f", write(tmp_path, text))
    assert "spec.traffic" in line and "requestsPerSecond or outputTokensPerSecond" in line


def test_unknown_field(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = fails_with(capsys, "plan", "-f", write(tmp_path, manifest() + "  replicas: 3\n"))
    assert "spec.replicas: unknown field" in line


def test_malformed_yaml(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = fails_with(capsys, "plan", "-f", write(tmp_path, "spec: [unclosed\n  model: x"))
    assert "not valid YAML" in line and "line" in line


def test_wrong_kind_and_api_version(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = fails_with(capsys, "plan", "-f", write(tmp_path, manifest().replace("kind: ModelDeployment", "kind: Pod")))
    assert "kind must be one of" in line
    line = fails_with(capsys, "plan", "-f", write(tmp_path, manifest().replace("infercap.dev/v1alpha1", "v1")))
    assert "apiVersion must be infercap.dev/v1alpha1" in line


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails_with(capsys, "plan", "-f", "/nonexistent/deploy.yaml")
    assert "cannot read /nonexistent/deploy.yaml" in line


def test_model_fits_no_candidate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = manifest("gpt-5.5").replace("model: gpt-5.5", "model: gpt-5.5\n  precision: bf16\n  accelerators: [tpu-v5e]")
    line = fails_with(capsys, "plan", "-f", write(tmp_path, text))
    assert "[ModelDoesNotFit]" in line and "spec.accelerators" in line


def test_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails_with(capsys, "estimate", "--model", "llama-3.1-8b")
    assert "required" in line and "--help" in line
    line = fails_with(
        capsys,
        "estimate",
        "--model",
        "llama-3.1-8b",
        "--accelerator",
        "h100",
        "--chips",
        "0",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
    )
    assert "--chips: must be at least 1" in line
    line = fails_with(
        capsys,
        "estimate",
        "--model",
        "llama-3.1-8b",
        "--accelerator",
        "h100",
        "--chips",
        "two",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
    )
    assert "invalid int value" in line
    line = fails_with(capsys, "plan", "-f", EXAMPLE, "--price", "h100")
    assert "ACCELERATOR=PRICE" in line
    line = fails_with(capsys, "plan", "-f", EXAMPLE, "-o", "xml")
    assert "invalid choice" in line


def test_context_too_long_flag(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails_with(
        capsys,
        "estimate",
        "--model",
        "llama-2-70b",
        "--accelerator",
        "h100",
        "--chips",
        "2",
        "--input-tokens",
        "4000",
        "--output-tokens",
        "500",
    )
    assert "[ContextTooLong]" in line


def test_console_script_runs_as_a_process(tmp_path: Path) -> None:
    # The real entry point, as a user runs it: exit codes and stderr through a process boundary.
    ok = subprocess.run(
        [sys.executable, "-m", "infercap", "plan", "-f", EXAMPLE, "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["name"] == "llama-70b-chat"
    bad = subprocess.run(
        [sys.executable, "-m", "infercap", "plan", "-f", write(tmp_path, manifest("nope"))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


# --- infercap plan honours CapacityPolicy (issue 9): the operator's admission check, offline ------------

_MD70 = {
    "apiVersion": "infercap.dev/v1alpha1",
    "kind": "ModelDeployment",
    "spec": {
        "model": "llama-3.1-70b",
        "precision": "fp8",
        "traffic": {"requestsPerSecond": 100, "inputTokens": 2000, "outputTokens": 400},
        "accelerators": ["h100"],
    },
}


def _md(name: str, namespace: str = "team", **spec: Any) -> dict[str, Any]:
    return {**_MD70, "metadata": {"name": name, "namespace": namespace}, "spec": {**_MD70["spec"], **spec}}


def _policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "infercap.dev/v1alpha1", "kind": "CapacityPolicy", "metadata": {"name": name}, "spec": spec}


def _write(tmp_path: Path, name: str, *docs: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


def _plans(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "plan", *args, "-o", "json")
    assert code == 0, err
    doc = json.loads(out)
    return doc if isinstance(doc, list) else [doc]


def test_plan_applies_a_policy_file_like_the_operator(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    mds = _write(tmp_path, "mds.yaml", _md("a"), _md("b"), _md("c", namespace="other"))
    free = _plans(capsys, "-f", mds)
    assert all(p["plan"]["chips"] > 16 for p in free) and all("limits" not in p for p in free)
    pol = _write(
        tmp_path, "policy.yaml", _policy("team", {"namespaces": ["team"], "limits": {"perNamespace": {"maxChips": 24}}})
    )
    a, b, c = _plans(capsys, "-f", mds, "--policy", pol)
    # The namespace ceiling counts the plans before (as the operator counts the namespace's other plans).
    assert a["plan"]["chips"] + b["plan"]["chips"] <= 24
    assert "CapacityPolicy team" in " ".join(a["limits"]["binding"] + b["limits"]["binding"])
    assert c["plan"]["chips"] == free[2]["plan"]["chips"] and "limits" not in c, "namespace not covered"
    # The same policy inside the -f file counts the same; the table says what capped the plan.
    both = _write(tmp_path, "both.yaml", _md("a"), yaml.safe_load(Path(pol).read_text()))
    code, out, _ = run(capsys, "plan", "-f", both)
    assert code == 0 and "CAPPED by CapacityPolicy team" in out


def test_plan_applies_the_operator_configuration_limits(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("limits: {perDeployment: {maxChips: 8}}\n")
    (p,) = _plans(capsys, "-f", _write(tmp_path, "md.yaml", _md("a")), "--config", str(cfg))
    assert p["plan"]["chips"] <= 8 and p["limits"]["allowedReplicas"] < p["limits"]["neededReplicas"]


def test_plan_refuses_a_target_the_policy_does_not_allow(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    md = _write(tmp_path, "md.yaml", _md("a", nodePool={"provider": "karpenter", "nodeClass": "gold"}))
    pol = _write(tmp_path, "p.yaml", _policy("team", {"targets": {"nodeClasses": ["default"]}}))
    line = fails_with(capsys, "plan", "-f", md, "--policy", pol)
    assert "spec.nodePool.nodeClass 'gold'" in line and "[TargetNotAllowed]" in line


@pytest.mark.parametrize(
    "docs, expected",
    [
        ([_policy("bad", {"limits": {"perDeployment": {"maxChips": -5}}})], "CapacityPolicy/bad: spec.limits"),
        ([_md("x")], "holds documents other than CapacityPolicy"),
    ],
)
def test_plan_with_a_bad_policy_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, docs: list[dict[str, Any]], expected: str
) -> None:
    md = _write(tmp_path, "md.yaml", _md("a"))
    assert expected in fails_with(capsys, "plan", "-f", md, "--policy", _write(tmp_path, "p.yaml", *docs))


def test_plan_with_policy_required_and_no_policy_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("policyRequired: true\n")
    line = fails_with(capsys, "plan", "-f", _write(tmp_path, "md.yaml", _md("a")), "--config", str(cfg))
    assert "[NoPolicy]" in line

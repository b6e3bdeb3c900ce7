"""`infercap plan` with the operator's measured correction (issue 11, online calibration offline): from
--step-time-factor, or from status.observed.calibration as `kubectl get -o yaml` prints it, a plan reviewed
offline is the one the operator makes online; bad values are one line and exit 2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.fakekube import FakeKube, mdep
from tests.unit.test_calibration_live import BASE, FakeReader, at

from infercap.api.config import OperatorConfig
from infercap.cli.main import main
from infercap.reconcile import reconcile

KEY = ("infercap.dev/v1alpha1", "ModelDeployment", "team", "m")


def calibrated(mode: str = "online") -> dict[str, Any]:
    """The ModelDeployment after a minute of reconciles whose replicas run 30 % slower than the model says."""
    kube = FakeKube()
    spec = {**BASE, "nodePool": {"provider": "none"}, "calibration": {"mode": mode, "source": "p", "windowSeconds": 10}}
    kube.put(mdep("m", "team", spec))
    reader = FakeReader()
    for t in range(0, 70, 10):
        asyncio.run(reconcile(kube, OperatorConfig(), kube.objects[KEY], at(t), calibrator=reader))  # type: ignore[arg-type]
    return kube.objects[KEY]


def plan_yaml(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["plan", *argv, "-o", "yaml"]) == 0
    doc: dict[str, Any] = yaml.safe_load(capsys.readouterr().out)
    return doc


def test_the_operators_measured_correction_plans_the_same_offline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    obj = calibrated()
    online = obj["status"]["plan"]["replicas"]
    dumped = tmp_path / "m.yaml"
    dumped.write_text(yaml.safe_dump(obj))  # what `kubectl get modeldeployment m -o yaml` prints
    model = plan_yaml(capsys, "-f", str(dumped))["plan"]["replicas"]
    offline = plan_yaml(capsys, "-f", str(dumped), "--calibration-from", str(dumped))
    assert model < online and offline["plan"]["replicas"] == online
    line = next(x for x in offline["explanation"] if x.startswith("Online calibration"))
    assert f"{float(obj['status']['observed']['calibration']['factor']):.2f}x" in line
    # A kubectl List (kubectl get modeldeployments -o json) reads the same; the flag wins over the file.
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [obj]}))
    assert plan_yaml(capsys, "-f", str(dumped), "--calibration-from", str(listed))["plan"]["replicas"] == online
    flag = plan_yaml(capsys, "-f", str(dumped), "--calibration-from", str(listed), "--step-time-factor", "h100=1")
    assert flag["plan"]["replicas"] == model


def test_an_observe_mode_status_shows_what_online_would_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    obj = calibrated("observe")
    dumped = tmp_path / "m.yaml"
    dumped.write_text(yaml.safe_dump(obj))
    model = obj["status"]["plan"]["replicas"]
    offline = plan_yaml(capsys, "-f", str(dumped), "--calibration-from", str(dumped))["plan"]["replicas"]
    by_flag = plan_yaml(capsys, "-f", str(dumped), "--step-time-factor", "h100=1.3")["plan"]["replicas"]
    assert offline > model and abs(offline - by_flag) <= 1


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--step-time-factor", "h100=3"], "between 0.5 and 2"),
        (["--step-time-factor", "h100=nan"], "between 0.5 and 2"),
        (["--step-time-factor", "h100"], "ACCELERATOR=FACTOR"),
        (["--step-time-factor", "h1000=1.2"], "not an accelerator of the catalog"),
        (["--calibration-from", "MISSING"], "cannot read"),
        (["--calibration-from", "PLAIN"], "no ModelDeployment with samples"),
        (["--calibration-from", "OTHER"], "match none of -f"),
    ],
)
def test_bad_corrections_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: list[str], says: str
) -> None:
    obj = calibrated()
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({k: v for k, v in obj.items() if k != "status"}))
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**obj, "metadata": {**obj["metadata"], "name": "n"}}))
    paths = {"MISSING": str(tmp_path / "nope.yaml"), "PLAIN": str(plain), "OTHER": str(other)}
    with pytest.raises(SystemExit) as e:
        main(["plan", "-f", str(plain), *(paths.get(x, x) for x in extra)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and says in err and len(err.strip().splitlines()) == 1

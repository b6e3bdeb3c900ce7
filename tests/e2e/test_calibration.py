"""Online calibration end to end (issue 11, item 6): a fake engine exporting vLLM's metric names, 30 %
slower than the model predicts at the batch it reports, scraped by a real Prometheus that the session
operator names as source `test`. The prediction error shows in status.observed.calibration and in the
operator's /metrics; with mode online the plan grows by about 30 % and the explanation says why; with
mode observe the error shows and the plan stays the model's."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
import yaml

from infercap.api.deployment import ModelDeploymentSpec
from infercap.core.catalog import builtin_catalog
from infercap.core.planner import plan
from tests.e2e.conftest import Cluster, Operator, Prometheus, wait_until
from tests.e2e.test_operator import condition, mdep

pytestmark = pytest.mark.cluster

SLOWER = 1.3
BATCH = 64  # running requests per replica the engine reports (above minRunningRequests)
SPEC: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "accelerators": ["h100"],
    # Enough traffic for a plan of 10+ replicas, so 30 % shows through whole replicas.
    "traffic": {"requestsPerSecond": 250, "inputTokens": 1000, "outputTokens": 200},
    "nodePool": {"provider": "none"},
}


def scrape(operator: Operator) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def series(text: str, metric: str, name: str, namespace: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f'{metric}{{name="{name}",namespace="{namespace}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_replicas_slower_than_predicted_are_measured_and_re_planned(
    cluster: Cluster, operator: Operator, namespace: str, prometheus: Prometheus
) -> None:
    # The model's own prediction, as the operator computes it: the applied replica's step at BATCH.
    cat = builtin_catalog()
    spec = ModelDeploymentSpec.model_validate(SPEC)
    model_plan = plan(cat, spec).applied
    chips, acc = model_plan.placement.chips_per_replica, model_plan.accelerator
    replica = cat.replica(cat.shape(cat.model(spec.model), spec.precision, spec.kv_cache_precision), acc, chips)
    predicted = replica.step(BATCH, model_plan.estimate.workload).total
    corrected = plan(cat, spec, step_time_factors={acc.id: SLOWER}).applied.placement.replicas
    before = model_plan.placement.replicas
    assert before >= 10 and corrected > before
    # Four replicas of two data-parallel ranks each: eight series per metric, as vLLM exports them.
    prometheus.set_engine(replicas=4, dp=2, batch=BATCH, step=predicted * SLOWER, kv=0.6, namespace=namespace)

    for name, mode in (("online", "online"), ("observe", "observe")):
        doc = {
            "apiVersion": "infercap.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                **SPEC,
                "calibration": {"mode": mode, "source": "test", "selector": 'job="engine"', "windowSeconds": 10},
            },
        }
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))

    def calibrated(name: str, samples: int) -> dict[str, Any] | None:
        obj = mdep(cluster, name, namespace)
        cal = ((obj.get("status") or {}).get("observed") or {}).get("calibration") or {}
        return obj if int(cal.get("samples") or 0) >= samples else None

    online = wait_until(lambda: calibrated("online", 4), timeout=150, what="four calibration samples")
    cal = online["status"]["observed"]["calibration"]
    assert float(cal["predictionError"]) == pytest.approx(SLOWER - 1, abs=0.03)
    assert float(cal["predictedStepSeconds"]) == pytest.approx(predicted, rel=1e-3)
    # Replicas are pods, not the eight rank series; the batch is per replica, both ranks together.
    assert cal["replicas"] == 4 and float(cal["batchPerReplica"]) == pytest.approx(BATCH, rel=0.01)
    assert float(cal["factor"]) == pytest.approx(SLOWER, rel=0.05) and cal["applied"] is True
    cond = condition(online, "Calibrated")
    assert cond is not None and (cond["status"], cond["reason"]) == ("True", "Correcting")

    # About 30 % more replicas, within whole replicas (the filter may still sit a little under 1.3).
    after = online["status"]["plan"]["replicas"]
    assert corrected - 1 <= after <= corrected
    assert after / before == pytest.approx(SLOWER, abs=1 / before + 0.03)
    wide = cluster.kubectl("get", "modeldeployment", "online", "-n", namespace, "-o", "wide").stdout
    assert "PREDICTION-ERROR" in wide and cal["predictionError"] in wide
    line = next(x for x in online["status"]["plan"]["explanation"] if x.startswith("Online calibration"))
    assert f"would plan {before} replica(s)" in line and f"the correction plans {after}" in line

    def exported() -> str | None:
        text = scrape(operator)
        return text if series(text, "infercap_prediction_error_ratio", "online", namespace) is not None else None

    text = wait_until(exported, timeout=30, what="the prediction-error series")
    error = series(text, "infercap_prediction_error_ratio", "online", namespace)
    factor = series(text, "infercap_calibration_factor", "online", namespace)
    assert error == pytest.approx(SLOWER - 1, abs=0.03)
    assert factor is not None and factor == pytest.approx(SLOWER, rel=0.05)
    print(
        f"\ncalibration e2e: model plan {before} replicas, corrected {after} (planner at 1.3x: {corrected}); "
        f"prediction error {error:+.3f}, factor {factor:.3f} after {cal['samples']} samples"
    )

    # Observe mode: the same error, reported; the plan stays the model's.
    observe = wait_until(lambda: calibrated("observe", 2), timeout=60, what="samples in observe mode")
    ocal = observe["status"]["observed"]["calibration"]
    assert float(ocal["predictionError"]) == pytest.approx(SLOWER - 1, abs=0.03) and ocal["applied"] is False
    assert observe["status"]["plan"]["replicas"] == before
    assert not any(x.startswith("Online calibration") for x in observe["status"]["plan"]["explanation"])
    assert condition(observe, "Calibrated")["reason"] == "Observing"  # type: ignore[index]


def test_an_unknown_source_or_another_namespace_sends_nothing_and_says_why(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    for name, calibration in (
        ("nosource", {"mode": "online", "source": "elsewhere"}),
        ("othertenant", {"mode": "online", "source": "test", "selector": 'job="engine", namespace="kube-system"'}),
    ):
        doc = {
            "apiVersion": "infercap.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {**SPEC, "calibration": calibration},
        }
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))

    def refused(name: str) -> dict[str, Any] | None:
        c = condition(mdep(cluster, name, namespace), "Calibrated")
        return c if c is not None and c["status"] == "False" else None

    c = wait_until(lambda: refused("nosource"), timeout=60, what="Calibrated=False for an unknown source")
    assert c["reason"] == "UnknownSource" and "prometheus.sources" in c["message"]
    c = wait_until(lambda: refused("othertenant"), timeout=60, what="Calibrated=False for another namespace")
    assert c["reason"] == "SelectorOutsideNamespace" and "spec.calibration.selector" in c["message"]
    for name in ("nosource", "othertenant"):
        obj = mdep(cluster, name, namespace)
        assert condition(obj, "Ready")["status"] == "True"  # type: ignore[index]
        assert obj["status"]["plan"]["replicas"] >= 10  # the model's plan, uncorrected


def test_the_api_server_refuses_a_selector_that_is_not_label_matchers(
    cluster: Cluster, crds_installed: None, namespace: str
) -> None:
    doc = {
        "apiVersion": "infercap.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "inject", "namespace": namespace},
        "spec": {**SPEC, "calibration": {"source": "test", "selector": 'job="x"}) or vector(1'}},
    }
    out = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=False)
    assert out.returncode != 0 and "spec.calibration.selector" in out.stderr

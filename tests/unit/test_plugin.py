"""The kubectl plugin's pure parts: finding the verb among kubectl's flags, and the cost totals."""

from __future__ import annotations

from typing import Any

from infercap.cli.plugin import cost_rows, get_rows, split_verb


def test_the_verb_is_found_wherever_the_flags_are() -> None:
    assert split_verb(["get", "-A"]) == ("get", ["-A"])
    assert split_verb(["--context", "prod", "-n", "team", "get", "x"]) == (
        "get",
        ["--context", "prod", "-n", "team", "x"],
    )
    assert split_verb(["--context=prod", "cost"]) == ("cost", ["--context=prod"])
    assert split_verb(["-A"]) == (None, ["-A"])


def md(ns: str, name: str, monthly: str | None, currency: str = "USD", chips: int = 8) -> dict[str, Any]:
    plan = {
        "accelerator": "h100",
        "chipsPerReplica": chips // 2,
        "replicas": 2,
        "nodes": 1,
        "chips": chips,
        "resourceName": "nvidia.com/gpu",
        "source": "analytic",
    }
    status: dict[str, Any] = {"plan": plan}
    if monthly is not None:
        status["cost"] = {"monthly": monthly, "hourly": "0", "currency": currency}
    return {"metadata": {"namespace": ns, "name": name}, "spec": {"model": "m"}, "status": status}


def test_cost_totals_per_namespace_and_currency() -> None:
    rows = cost_rows([md("a", "x", "100.10"), md("a", "y", "0.90"), md("a", "z", "5", "EUR"), md("b", "w", None)])
    assert rows == [
        {"namespace": "a", "currency": "EUR", "deployments": 1, "chips": 8, "costMonthly": "5.00"},
        {"namespace": "a", "currency": "USD", "deployments": 2, "chips": 16, "costMonthly": "101.00"},
        {"namespace": "b", "currency": "USD", "deployments": 1, "chips": 8, "costMonthly": "0.00"},
    ]


def test_observed_nodes_are_those_labelled_for_the_deployment() -> None:
    nodes = [
        {"metadata": {"labels": {"infercap.dev/model-deployment": "a-x"}}},
        {"metadata": {"labels": {"infercap.dev/model-deployment": "a-x"}}},
        {"metadata": {"labels": {"infercap.dev/model-deployment": "a-y"}}},
        {"metadata": {}},
    ]
    (row,) = get_rows([md("a", "x", "1")], nodes)
    assert row["observedNodes"] == 2 and row["plannedNodes"] == 1 and row["observedReplicas"] is None
    served = md("a", "x", "1")
    served["status"]["observed"] = {"replicasDesired": 2, "replicasReady": 1}
    (row,) = get_rows([served], nodes)
    assert row["observedReplicas"] == 1  # the key the operator writes (the plugin once read another)


def test_a_hand_written_block_that_does_not_validate_is_left_out() -> None:
    broken = md("a", "x", "1")
    broken["status"]["cost"] = {"monthly": "lots"}  # no currency, no hourly
    (row,) = cost_rows([broken, md("a", "y", "2")])
    assert row == {"namespace": "a", "currency": "USD", "deployments": 2, "chips": 16, "costMonthly": "2.00"}

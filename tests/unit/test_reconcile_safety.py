"""The reconcile against an in-memory API (tests/unit/fakekube.py): hostile specs end in a condition,
budgets that afford nothing apply nothing and hold no quota, and reconciles read from Kopf's indexes
instead of listing (issue 9, items 1, 4 and 6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.unit.fakekube import FakeKube, mdep

from infercap.api.config import OperatorConfig
from infercap.handlers import INDEXES, OBSERVE_INDEXES, build_registry
from infercap.reconcile import reconcile, share_from_status

NOW = "2026-12-01T00:00:00Z"
BASE: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "traffic": {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 200},
    "accelerators": ["h100"],
}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def conditions(kube: FakeKube, name: str, namespace: str = "team") -> dict[str, dict[str, Any]]:
    obj = kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", namespace, name)]
    return {c["type"]: c for c in obj["status"]["conditions"]}


def reconcile_once(kube: FakeKube, body: dict[str, Any], cfg: OperatorConfig | None = None) -> dict[str, Any]:
    stored = kube.put(body)
    run(reconcile(kube, cfg or OperatorConfig(), stored, NOW))  # type: ignore[arg-type]
    return kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", "team", body["metadata"]["name"])]


# The manifests that raised uncaught exceptions every 60 s (issue 9, item 5), plus their neighbours: the
# API server would now refuse them, but the operator must also survive them (an older CRD, a hand edit).
HOSTILE = [
    {"traffic": {"requestsPerSecond": "99999999999999999999999999999999", "inputTokens": 10, "outputTokens": 10}},
    {"traffic": {"requestsPerSecond": "0.00000000000000000000000000001", "inputTokens": 10, "outputTokens": 10}},
    {"traffic": {"outputTokensPerSecond": "1e400", "inputTokens": 10, "outputTokens": 10}},
    {"traffic": {"requestsPerSecond": "NaN", "inputTokens": 10, "outputTokens": 10}},
    {"traffic": {"requestsPerSecond": -1, "inputTokens": 10, "outputTokens": 10}},
    {"traffic": {"requestsPerSecond": 10, "inputTokens": 10**12, "outputTokens": 10}},
    {"budget": {"maxMonthlyCost": "1e-300"}},
    {"slo": {"outputTokensPerSecondPerStream": "99999999999999999999"}},
    {"autoscaling": {"metric": {"prometheus": {"url": "http://[::1", "query": "up"}}}},
    {"accelerators": ["h100"] * 40},
    {"headroom": "0.999"},
    {"model": "x" * 300},
    {"nodePool": {"provider": "aws"}},
]


@pytest.mark.parametrize("patch", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_specs_end_in_a_condition_and_apply_nothing(patch: dict[str, Any]) -> None:
    kube = FakeKube()
    body = mdep("bad", "team", {**BASE, **patch})
    obj = reconcile_once(kube, body)
    cond = {c["type"]: c for c in obj["status"]["conditions"]}
    ready = cond["Ready"]
    assert ready["status"] in ("True", "False") and ready["reason"][0].isupper() and ready["message"]
    assert cond["Planned"]["reason"][0].isupper()
    if cond["Planned"]["status"] == "False":
        assert not kube.of_kind("NodePool") and not kube.of_kind("ResourceQuota")


def test_a_budget_that_affords_nothing_applies_nothing_and_holds_no_quota() -> None:
    kube = FakeKube()
    obj = reconcile_once(kube, mdep("tiny", "team", {**BASE, "budget": {"maxMonthlyCost": "0.01"}}))
    cond = {c["type"]: c for c in obj["status"]["conditions"]}
    assert cond["WithinBudget"]["status"] == "False" and "nothing is applied" in cond["WithinBudget"]["message"]
    assert "100%" not in cond["WithinBudget"]["message"]
    assert cond["NodePoolsReady"]["status"] == "False" and cond["NodePoolsReady"]["reason"] == "NothingAffordable"
    assert cond["Ready"]["status"] == "False"
    assert kube.of_kind("NodePool") == []
    assert kube.of_kind("ResourceQuota") == []
    assert obj["status"]["plan"]["replicas"] == 0
    assert share_from_status(obj) is None


def test_lowering_the_budget_to_nothing_removes_the_pool_and_the_quota() -> None:
    kube = FakeKube()
    reconcile_once(kube, mdep("m", "team", dict(BASE)))
    assert len(kube.of_kind("NodePool")) == 1 and len(kube.of_kind("ResourceQuota")) == 1
    obj = kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", "team", "m")]
    obj["spec"] = {**BASE, "budget": {"maxMonthlyCost": "1"}}
    run(reconcile(kube, OperatorConfig(), obj, NOW))  # type: ignore[arg-type]
    assert kube.of_kind("NodePool") == []
    assert kube.of_kind("ResourceQuota") == []


def test_index_handlers_are_registered_under_the_names_the_reconcile_looks_up() -> None:
    registry, op = build_registry(OperatorConfig())
    ids = {h.id for h in registry._indexing.get_all_handlers()}
    assert ids == set(INDEXES) | set(op.owned_indexes) | set(OBSERVE_INDEXES)
    assert len(op.owned_indexes) == 3
    # A provider that is not enabled is neither indexed nor watched (the chart grants it no RBAC).
    registry, op = build_registry(OperatorConfig.model_validate({"enabledProviders": ["karpenter"]}))
    ids = {h.id for h in registry._indexing.get_all_handlers()}
    assert ids == set(INDEXES) | {"owned_nodepools"} | set(OBSERVE_INDEXES)
    registry, op = build_registry(OperatorConfig.model_validate({"enabledProviders": ["clusterapi"]}))
    ids = {h.id for h in registry._indexing.get_all_handlers()}
    assert "nodeclaims_by_pool" not in ids, "no Karpenter, no NodeClaim watch (the chart grants none)"


def test_a_reconcile_lists_nothing_when_kopf_passes_its_indexes() -> None:
    registry, op = build_registry(OperatorConfig())
    kube = FakeKube()
    op.kube = kube  # type: ignore[assignment]
    # Kopf passes each index as a keyword argument named after its handler id.
    kwargs: dict[str, Any] = {h.id: {} for h in registry._indexing.get_all_handlers()}
    world = op.world(kwargs)
    for i in range(5):
        body = kube.put(mdep(f"m{i}", "team", dict(BASE)))
        kube.calls.clear()
        run(reconcile(kube, op.cfg, body, NOW, world=world))  # type: ignore[arg-type]
        assert kube.calls["list"] == 0, kube.calls
        assert kube.calls["apply"] >= 1


def _pool(name: str, uid: str, managed: bool = True) -> dict[str, Any]:
    labels = {"infercap.dev/owner-uid": uid}
    if managed:
        labels["app.kubernetes.io/managed-by"] = "infercap"
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name, "labels": labels, "annotations": {"infercap.dev/owner": "team/m"}},
        "spec": {},
    }


def test_stale_pools_are_found_by_label_not_by_status_children() -> None:
    """A kill -9 between applying a new pool and writing status leaves a pool status.children does not list."""
    kube = FakeKube()
    body = kube.put(mdep("m", "team", dict(BASE)))
    uid = body["metadata"]["uid"]
    run(reconcile(kube, OperatorConfig(), body, NOW))  # type: ignore[arg-type]
    (wanted,) = kube.of_kind("NodePool")
    kube.put(_pool("infercap-team-m-b200-leftover", uid))
    kube.put(_pool("someone-elses", "another-uid"))
    body = kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", "team", "m")]
    assert all("leftover" not in c["name"] for c in body["status"]["children"])
    run(reconcile(kube, OperatorConfig(), body, NOW))  # type: ignore[arg-type]
    names = {p["metadata"]["name"] for p in kube.of_kind("NodePool")}
    assert names == {wanted["metadata"]["name"], "someone-elses"}


def test_a_pool_whose_managed_by_label_was_removed_is_still_cleaned_up() -> None:
    from infercap.reconcile import finalize

    kube = FakeKube()
    body = kube.put(mdep("m", "team", dict(BASE)))
    run(reconcile(kube, OperatorConfig(), body, NOW))  # type: ignore[arg-type]
    (pool,) = kube.of_kind("NodePool")
    del pool["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    body = kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", "team", "m")]
    run(reconcile(kube, OperatorConfig(), body, NOW))  # type: ignore[arg-type]
    c = conditions(kube, "m")["NodePoolsReady"]
    assert c["reason"] != "NameConflict", "our own pool, relabelled, is still ours"
    removed = run(finalize(kube, OperatorConfig(), body))  # type: ignore[arg-type]
    assert removed and kube.of_kind("NodePool") == []


def test_transport_errors_become_kube_errors_that_retry_in_seconds() -> None:
    from lightkube import AsyncClient, KubeConfig

    from infercap.handlers import retry_delay
    from infercap.kube.client import Kube, KubeError

    async def call() -> KubeError:
        config = KubeConfig.from_dict(
            {
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
        kube = Kube(AsyncClient(config=config))
        try:
            await kube.get("infercap.dev/v1alpha1", "ModelDeployment", "m", "team")
        except KubeError as e:
            return e
        finally:
            await kube.close()
        raise AssertionError("no error from a closed port")

    err = run(call())
    assert err.code == 0 and err.reason == "ServiceUnavailable"
    assert retry_delay(err) <= 2


def test_only_spec_changes_readiness_and_deletions_of_pools_we_serve_are_drift() -> None:
    from infercap.handlers import Operator

    op = Operator(OperatorConfig(), namespaces=["team"])

    def pool(generation: int, owner: str = "team/m", ready: str | None = None, name: str = "p") -> Any:
        status = {"conditions": [{"type": "Ready", "status": ready}]} if ready else {"nodes": 3}
        return {
            "kind": "NodePool",
            "metadata": {"name": name, "generation": generation, "annotations": {"infercap.dev/owner": owner}},
            "status": status,
        }

    assert not op.drifted(pool(1), {"type": None})  # the initial listing
    assert not op.drifted(pool(1), {"type": "MODIFIED"})  # a status update: same generation
    assert op.drifted(pool(2), {"type": "MODIFIED"})  # someone changed the spec
    assert op.drifted(pool(2, ready="True"), {"type": "MODIFIED"})  # Karpenter says Ready: NodePoolsReady follows
    assert not op.drifted(pool(2, ready="True"), {"type": "MODIFIED"})  # nothing new
    assert op.drifted(pool(2), {"type": "DELETED"})
    assert not op.drifted(pool(1, "other/m"), {"type": "DELETED"}), "another operator's namespace"
    # A new pool: its owner's reconcile just applied it and saw it not Ready; only a Ready one needs a look
    # (Kopf batches events: the first one seen may already carry Karpenter's Ready).
    assert not op.drifted(pool(1, name="new"), {"type": "ADDED"}), "its Ready change is a later event"
    assert not op.drifted(pool(1, name="new", ready="Unknown"), {"type": "MODIFIED"}), "still pending"
    assert op.drifted(pool(1, name="new", ready="True"), {"type": "MODIFIED"}), "then it is drift"
    assert op.drifted(pool(1, name="batched", ready="True"), {"type": "MODIFIED"}), "first seen Ready"
    assert not op.drifted(pool(1, name="listed", ready="True"), {"type": None}), "the startup listing"


def test_a_serving_workloads_rollout_foreign_edits_and_deletion_reconcile_its_owner() -> None:
    """Serving and the observed replicas follow a rollout in about a second, not at the next resync."""
    from infercap.handlers import Operator

    op = Operator(OperatorConfig(), namespaces=["team"])

    def deploy(
        generation: int = 1, ready: int = 0, observed: int = 1, namespace: str = "team", name: str = "m-h100"
    ) -> Any:
        owner = {"apiVersion": "infercap.dev/v1alpha1", "kind": "ModelDeployment", "name": "m", "uid": "u"}
        return {
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "generation": generation, "ownerReferences": [owner]},
            "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": ready, "replicas": 2},
        }

    assert Operator.serving_owner(deploy()) == "team/m"  # type: ignore[arg-type]
    assert not op.serving_changed(deploy(), {"type": None}), "the startup listing is resume's"
    assert not op.serving_changed(deploy(), {"type": "MODIFIED"}), "nothing new"
    assert op.serving_changed(deploy(ready=1), {"type": "MODIFIED"}), "a replica became ready"
    assert op.serving_changed(deploy(generation=2, ready=1), {"type": "MODIFIED"}), "a new spec (foreign edit?)"
    assert op.serving_changed(deploy(generation=2, ready=1, observed=2), {"type": "MODIFIED"}), "rollout seen"
    assert not op.serving_changed(deploy(generation=2, ready=1, observed=2), {"type": "MODIFIED"})
    assert op.serving_changed(deploy(generation=2, ready=1, observed=2), {"type": "DELETED"})
    assert not op.serving_changed(deploy(name="new"), {"type": "ADDED"}), "just applied by its owner's reconcile"
    assert op.serving_changed(deploy(name="batched", ready=2), {"type": "MODIFIED"}), "first seen with ready pods"
    assert not op.serving_changed(deploy(namespace="other", ready=2), {"type": "DELETED"}), "not served here"
    orphan = deploy(name="orphan", ready=2)
    orphan["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x"}]
    assert not op.serving_changed(orphan, {"type": "DELETED"}), "no ModelDeployment owns it"


def test_only_foreign_quota_changes_and_deletions_are_drift() -> None:
    from infercap.handlers import Operator

    op = Operator(OperatorConfig(), namespaces=["team"])

    def quota(hard: dict[str, str], name: str = "infercap", namespace: str = "team") -> Any:
        return {"metadata": {"name": name, "namespace": namespace}, "spec": {"hard": hard}}

    gpus = {"requests.nvidia.com/gpu": "8"}
    assert not op.quota_drifted(quota(gpus), {"type": None})  # the listing
    assert not op.quota_drifted(quota(gpus), {"type": "MODIFIED"})  # the quota controller's status update
    assert op.quota_drifted(quota({"requests.nvidia.com/gpu": "9999"}), {"type": "MODIFIED"})
    assert op.quota_drifted(quota(gpus), {"type": "DELETED"})
    assert not op.quota_drifted(quota(gpus, name="team-quota"), {"type": "DELETED"}), "not infercap's"
    assert not op.quota_drifted(quota(gpus, namespace="other"), {"type": "DELETED"}), "not served here"


def test_an_unchanged_quota_costs_no_round_trip_and_a_foreign_edit_is_rewritten() -> None:
    from infercap.reconcile import World, apply_quota

    kube = FakeKube()
    world = World(kube)  # type: ignore[arg-type]
    body = kube.put(mdep("m", "team", dict(BASE)))
    run(reconcile(kube, OperatorConfig(), body, NOW, world=world))  # type: ignore[arg-type]
    (q,) = kube.of_kind("ResourceQuota")
    hard = dict(q["spec"]["hard"])
    body = kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", "team", "m")]
    kube.calls.clear()
    run(apply_quota(kube, world, OperatorConfig(), "team", None))  # type: ignore[arg-type]
    assert kube.calls["get"] == 0 and kube.calls["apply"] == 0, kube.calls  # (the list: World without indexes)
    q["spec"]["hard"] = dict.fromkeys(hard, "99999")  # someone edits it; the watch tells the book
    world.quota_book.forget("team")
    run(apply_quota(kube, world, OperatorConfig(), "team", None))  # type: ignore[arg-type]
    assert kube.of_kind("ResourceQuota")[0]["spec"]["hard"] == hard

"""The node-pool provider registry: every built-in provider meets the NodePoolProvider contract, and a
second Karpenter-like provider (tests/unit/fakepool.py) works end to end, through a real reconcile against
the fake API, after one registration and nothing else (issue 13, item 1)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit.fakekube import FakeKube, mdep
from tests.unit.fakepool import ID, KIND, FakePoolProvider

from infercap.api.conditions import Cond, Reason
from infercap.api.config import OperatorConfig
from infercap.api.deployment import Provider
from infercap.kube import client
from infercap.providers import NodePoolProvider, ProviderError, base, candidates, pool_kinds, registered
from infercap.reconcile import World, reconcile

NOW = "2026-12-01T00:00:00Z"
SPEC: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "traffic": {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 200},
    "accelerators": ["h100"],
}


def test_every_provider_of_the_api_is_registered_and_meets_the_contract() -> None:
    providers = registered()
    assert {p.value for p in Provider} <= set(providers)
    for pid, provider in providers.items():
        assert isinstance(provider, NodePoolProvider) and provider.id == pid
    kinds = {(k.api_version, k.kind) for k in pool_kinds()}
    assert {
        ("karpenter.sh/v1", "NodePool"),
        ("cluster.x-k8s.io/v1beta2", "MachineDeployment"),
        ("container.cnrm.cloud.google.com/v1beta1", "ContainerNodePool"),
    } <= kinds
    assert pool_kinds([Provider.NONE]) == []


def test_an_unknown_provider_is_a_reasoned_error() -> None:
    with pytest.raises(ProviderError) as e:
        base.get("nope")
    assert e.value.reason == Reason.PROVIDER_UNSUPPORTED and "karpenter" in e.value.message


@pytest.fixture
def fake() -> Iterator[FakePoolProvider]:
    provider = FakePoolProvider()
    base.register(provider)  # the one registration
    yield provider
    base.unregister(ID)


def fake_cfg() -> OperatorConfig:
    cfg = OperatorConfig()
    # The API's enum lists the built-in providers; a test-only one is selected in the configuration.
    return cfg.model_copy(update={"default_provider": ID, "enabled_providers": [*cfg.enabled_providers, ID]})


def reconcile_once(kube: FakeKube, cfg: OperatorConfig, name: str = "chat") -> dict[str, Any]:
    key = ("infercap.dev/v1alpha1", "ModelDeployment", "team", name)
    body = kube.objects.get(key) or kube.put(mdep(name, "team", SPEC))
    asyncio.run(reconcile(kube, cfg, body, NOW))  # type: ignore[arg-type]
    return kube.objects[key]


def conds(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in obj["status"]["conditions"]}


def test_a_registered_provider_is_planned_applied_and_known_to_the_client(fake: FakePoolProvider) -> None:
    kube = FakeKube()
    obj = reconcile_once(kube, fake_cfg())
    [pool] = kube.of_kind(KIND.kind)
    assert pool["metadata"]["labels"]["infercap.dev/owner-uid"] == obj["metadata"]["uid"]
    assert pool["spec"]["nodes"] == obj["status"]["plan"]["nodes"]
    assert {"apiVersion": KIND.api_version, "kind": KIND.kind, "name": pool["metadata"]["name"]} in obj["status"][
        "children"
    ]
    assert not kube.of_kind("NodePool")
    # Karpenter-like: readiness is the pool's own Ready condition, unknown until its controller reports.
    assert conds(obj)[Cond.NODE_POOLS_READY]["status"] == "Unknown"
    kube.set_ready(KIND.kind, "True")
    assert conds(reconcile_once(kube, fake_cfg()))[Cond.NODE_POOLS_READY]["status"] == "True"
    World(kube)  # type: ignore[arg-type]
    assert (KIND.api_version, KIND.kind) in client._KINDS


def test_a_registered_provider_is_watched_by_the_handlers(fake: FakePoolProvider) -> None:
    from infercap.handlers import build_registry

    registry, op = build_registry(fake_cfg())
    ids = {h.id for h in registry._watching.get_all_handlers()}
    assert f"drift_{KIND.plural}" in ids and f"owned_{KIND.plural}" in op.owned_indexes


def test_supports_filters_the_accelerators_planned(fake: FakePoolProvider) -> None:
    from infercap.api.deployment import ModelDeploymentSpec
    from infercap.core.catalog import builtin_catalog

    fake.refuse = {"h100"}
    spec = ModelDeploymentSpec.model_validate({**SPEC, "accelerators": ["h100", "a100"]})
    assert candidates(spec, builtin_catalog(), ID, fake_cfg()).accelerators == ["a100"]


def test_a_render_error_becomes_the_condition_and_holds_no_quota(fake: FakePoolProvider) -> None:
    fake.render_error = ProviderError(Reason.PROVIDER_UNSUPPORTED, "fakepool cannot make h100 nodes")
    kube = FakeKube()
    obj = reconcile_once(kube, fake_cfg())
    cond = conds(obj)[Cond.NODE_POOLS_READY]
    assert (cond["status"], cond["reason"]) == ("False", Reason.PROVIDER_UNSUPPORTED)
    assert "fakepool cannot make h100 nodes" in cond["message"]
    assert not kube.of_kind(KIND.kind) and not kube.of_kind("ResourceQuota")
    assert conds(obj)[Cond.READY]["status"] == "False"


def test_an_apply_failure_is_retried_and_reported(fake: FakePoolProvider) -> None:
    kube = FakeKube()
    kube.fail_apply = {KIND.kind}
    body = kube.put(mdep("chat", "team", SPEC))
    result = asyncio.run(reconcile(kube, fake_cfg(), body, NOW))  # type: ignore[arg-type]
    cond = {c["type"]: c for c in result.status["conditions"]}[Cond.NODE_POOLS_READY]
    assert (cond["status"], cond["reason"]) == ("False", Reason.APPLY_FAILED)
    assert result.retry and not kube.of_kind(KIND.kind)
    kube.fail_apply = set()
    assert len(kube.of_kind(KIND.kind)) == 0
    reconcile_once(kube, fake_cfg())
    assert len(kube.of_kind(KIND.kind)) == 1


def test_switching_provider_removes_the_old_pool(fake: FakePoolProvider) -> None:
    kube = FakeKube()
    reconcile_once(kube, fake_cfg())
    assert len(kube.of_kind(KIND.kind)) == 1
    back = fake_cfg().model_copy(update={"default_provider": Provider.KARPENTER})
    obj = reconcile_once(kube, back)
    assert kube.of_kind(KIND.kind) == [] and len(kube.of_kind("NodePool")) == 1
    assert all(c["kind"] != KIND.kind for c in obj["status"]["children"])

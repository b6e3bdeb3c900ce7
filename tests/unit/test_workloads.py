"""The serving workload: engine flags from the plan (one set per engine, for dense tensor parallel, MoE
with expert parallel and multi-node pipeline parallel) and the Deployment / LeaderWorkerSet, Service
and PodDisruptionBudget around them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from infercap.api.deployment import ModelDeploymentSpec
from infercap.api.serving import Engine, Serving
from infercap.api.types import Precision
from infercap.core.catalog import builtin_catalog
from infercap.core.planner import plan
from infercap.providers import Owner
from infercap.workloads.engines import commands
from infercap.workloads.plan import ServingPlan, serving_plan
from infercap.workloads.render import SERVES, SERVING, WorkloadRequest, render

CAT = builtin_catalog()
OWNER = Owner("chat", "team-a", "uid-1")
API = "infercap.dev/v1alpha1"

# Plans pinned by hand, so the flags below do not move when the compute model does.
DENSE_TP = ServingPlan(
    accelerator="h100",
    resource_name="nvidia.com/gpu",
    replicas=3,
    chips_per_replica=2,
    chips_per_node=8,
    tensor=2,
    pipeline=1,
    expert_parallel=False,
    attention_data_parallel=1,
    max_sequences=48,
    max_model_len=1300,
    precision=Precision.FP8,
    native_precision=Precision.BF16,
    kv_cache_precision=Precision.FP8,
    gpu_memory_fraction=0.9,
    static_memory_fraction=0.85,
    kv_free_memory_fraction=0.8,
)
MOE_EP = replace(
    DENSE_TP,
    replicas=1,
    chips_per_replica=8,
    tensor=8,
    expert_parallel=True,
    attention_data_parallel=8,
    max_sequences=512,
    precision=Precision.FP8,
    native_precision=Precision.FP8,
)
MULTI_NODE_PP = replace(
    DENSE_TP,
    replicas=2,
    chips_per_replica=16,
    tensor=8,
    pipeline=2,
    precision=Precision.BF16,
    native_precision=Precision.BF16,
    kv_cache_precision=Precision.BF16,
)


def args_of(engine: Engine, sp: ServingPlan, role: str = "server") -> list[str]:
    cmd = commands(engine, sp, "meta-llama/Llama-3.1-70B-Instruct", "chat", 8000, ["--extra-user-flag"])[role]
    return cmd.command + cmd.args


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_vllm_dense_tensor_parallel() -> None:
    a = args_of(Engine.VLLM, DENSE_TP)
    assert a[:3] == ["vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct"]
    assert flag(a, "--tensor-parallel-size") == "2"
    assert flag(a, "--pipeline-parallel-size") == "1"
    assert flag(a, "--max-num-seqs") == "48"
    assert flag(a, "--max-model-len") == "1300"
    assert flag(a, "--kv-cache-dtype") == "fp8"
    assert flag(a, "--gpu-memory-utilization") == "0.90"
    assert flag(a, "--quantization") == "fp8"  # bf16 checkpoint served at fp8
    assert "--enable-expert-parallel" not in a and "--data-parallel-size" not in a
    assert a[-1] == "--extra-user-flag"  # the user's args come last


def test_vllm_moe_expert_parallel_with_attention_data_parallel() -> None:
    a = args_of(Engine.VLLM, MOE_EP)
    # DP x TP = the replica's 8 chips; experts spread over all of them.
    assert flag(a, "--tensor-parallel-size") == "1"
    assert flag(a, "--data-parallel-size") == "8"
    assert "--enable-expert-parallel" in a
    assert "--quantization" not in a  # the checkpoint is already fp8


def test_vllm_multi_node_pipeline_parallel_runs_on_ray() -> None:
    leader = " ".join(args_of(Engine.VLLM, MULTI_NODE_PP, "leader"))
    worker = " ".join(args_of(Engine.VLLM, MULTI_NODE_PP, "worker"))
    assert "ray start --head" in leader and "--distributed-executor-backend ray" in leader
    assert "--tensor-parallel-size 8" in leader and "--pipeline-parallel-size 2" in leader
    assert "--kv-cache-dtype auto" in leader
    assert "ray start --address=$LWS_LEADER_ADDRESS" in worker


def test_sglang_flags() -> None:
    a = args_of(Engine.SGLANG, DENSE_TP)
    assert a[:3] == ["python3", "-m", "sglang.launch_server"]
    assert flag(a, "--model-path") == "meta-llama/Llama-3.1-70B-Instruct"
    assert (flag(a, "--tp-size"), flag(a, "--pp-size")) == ("2", "1")
    assert flag(a, "--max-running-requests") == "48"
    assert flag(a, "--context-length") == "1300"
    assert flag(a, "--kv-cache-dtype") == "fp8_e4m3"
    assert flag(a, "--mem-fraction-static") == "0.85"
    assert flag(a, "--quantization") == "fp8"
    moe = args_of(Engine.SGLANG, MOE_EP)
    assert "--enable-dp-attention" in moe and flag(moe, "--dp-size") == "8" and flag(moe, "--ep-size") == "8"
    leader = args_of(Engine.SGLANG, MULTI_NODE_PP, "leader")
    worker = args_of(Engine.SGLANG, MULTI_NODE_PP, "worker")
    assert flag(leader, "--nnodes") == "2" and flag(leader, "--node-rank") == "0"
    assert flag(worker, "--node-rank") == "$(LWS_WORKER_INDEX)"
    assert flag(worker, "--dist-init-addr").startswith("$(LWS_LEADER_ADDRESS):")


def test_trtllm_flags() -> None:
    a = args_of(Engine.TRTLLM, DENSE_TP)
    assert a[:2] == ["trtllm-serve", "meta-llama/Llama-3.1-70B-Instruct"]
    assert (flag(a, "--tp_size"), flag(a, "--pp_size")) == ("2", "1")
    assert flag(a, "--max_batch_size") == "48"
    assert flag(a, "--max_seq_len") == "1300"
    assert flag(a, "--kv_cache_free_gpu_memory_fraction") == "0.80"
    assert "--ep_size" not in a
    moe = args_of(Engine.TRTLLM, MOE_EP)
    assert flag(moe, "--ep_size") == "8"
    leader = " ".join(args_of(Engine.TRTLLM, MULTI_NODE_PP, "leader"))
    assert "mpirun" in leader and "-np 16" in leader and "--pp_size 2" in leader


@pytest.mark.parametrize(
    ("model", "accelerators", "extra"),
    [
        ("llama-3.1-70b", ["h100"], {}),  # dense, tensor parallel within a node
        ("qwen3-235b-a22b", ["h100"], {}),  # MoE: expert parallel
        ("llama-3.1-405b", ["h100"], {"precision": "bf16"}),  # spans nodes: pipeline parallel
    ],
)
@pytest.mark.parametrize("engine", list(Engine))
def test_flags_follow_the_planner(model: str, accelerators: list[str], extra: dict[str, Any], engine: Engine) -> None:
    """Whatever the compute model plans, the engine gets exactly the plan's numbers."""
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": model,
            "traffic": {"requestsPerSecond": 5, "inputTokens": 1000, "outputTokens": 300},
            "accelerators": accelerators,
            **extra,
        }
    )
    p = plan(CAT, spec)
    sp = serving_plan(p)
    applied = p.applied
    assert sp.chips_per_replica == applied.placement.chips_per_replica
    assert sp.tensor * sp.pipeline == sp.chips_per_replica
    assert sp.max_sequences == applied.estimate.performance.batch  # type: ignore[union-attr]
    # The longest request: the model's limit, or what one sequence of the KV pool holds; never the mean.
    assert sp.max_model_len >= 1300
    assert sp.max_model_len <= p.model.max_context_tokens
    mem_ = applied.estimate.memory
    assert sp.max_model_len <= 1300 * mem_.kv_pool / mem_.kv_per_sequence + 1
    assert sp.max_model_len in (p.model.max_context_tokens, int(1300 * mem_.kv_pool / mem_.kv_per_sequence))
    mem = applied.estimate.memory
    assert sp.gpu_memory_fraction <= (mem.weights + mem.reserve + mem.kv_pool) / mem.capacity
    assert sp.gpu_memory_fraction > (mem.weights + mem.reserve + mem.kv_pool) / mem.capacity - 0.011
    roles = commands(engine, sp, "m", "chat", 8000, [])
    assert set(roles) == ({"server"} if sp.nodes_per_replica == 1 else {"leader", "worker"})
    text = " ".join(roles.get("server", roles.get("leader")).command + roles.get("server", roles.get("leader")).args)  # type: ignore[union-attr]
    tp_flag = {Engine.VLLM: "--tensor-parallel-size", Engine.SGLANG: "--tp-size", Engine.TRTLLM: "--tp_size"}[engine]
    tp = sp.tensor // sp.attention_data_parallel if engine == Engine.VLLM else sp.tensor
    assert f"{tp_flag} {tp} " in text
    batch_flag = {
        Engine.VLLM: "--max-num-seqs",
        Engine.SGLANG: "--max-running-requests",
        Engine.TRTLLM: "--max_batch_size",
    }
    assert f"{batch_flag[engine]} {sp.max_sequences} " in text
    if sp.expert_parallel:
        assert ("--enable-expert-parallel" if engine == Engine.VLLM else f"{tp}") in text


def request(sp: ServingPlan, **serving: Any) -> WorkloadRequest:
    s = Serving.model_validate({"model": {"huggingFace": "meta-llama/Llama-3.1-70B-Instruct"}, **serving})
    return WorkloadRequest(OWNER, s, sp, "chat")


def test_a_replica_on_one_node_is_a_deployment() -> None:
    docs = render(request(DENSE_TP), API)
    kinds = [d["kind"] for d in docs]
    assert kinds == ["Deployment", "Service", "PodDisruptionBudget"]
    dep = docs[0]
    assert dep["metadata"]["name"] == "chat-h100"
    assert dep["metadata"]["ownerReferences"][0] == {
        "apiVersion": API,
        "kind": "ModelDeployment",
        "name": "chat",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert dep["spec"]["replicas"] == 3
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["image"] == "vllm/vllm-openai:v0.11.0"
    assert c["resources"]["requests"]["nvidia.com/gpu"] == "2" == c["resources"]["limits"]["nvidia.com/gpu"]
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"infercap.dev/model-deployment": "team-a.chat", "infercap.dev/accelerator": "h100"}
    # The startup probe allows the whole model load before liveness can restart the container.
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] == 1800
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    svc, pdb = docs[1], docs[2]
    assert svc["spec"]["selector"] == {SERVING: "chat", SERVES: "true"}
    assert pdb["spec"]["selector"]["matchLabels"] == {SERVING: "chat"}


def test_without_surge_a_rollout_needs_no_spare_accelerators() -> None:
    req = replace(request(DENSE_TP), surge=0)
    dep = render(req, API)[0]
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_a_replica_across_nodes_is_a_leader_worker_set() -> None:
    docs = render(request(MULTI_NODE_PP, engine="sglang", image="example.com/sglang:pinned"), API)
    lws = docs[0]
    assert lws["kind"] == "LeaderWorkerSet" and lws["apiVersion"] == "leaderworkerset.x-k8s.io/v1"
    tpl = lws["spec"]["leaderWorkerTemplate"]
    assert lws["spec"]["replicas"] == 2 and tpl["size"] == 2
    leader = tpl["leaderTemplate"]["spec"]["containers"][0]
    worker = tpl["workerTemplate"]["spec"]["containers"][0]
    assert leader["image"] == "example.com/sglang:pinned"
    # Each pod holds one node's chips.
    assert leader["resources"]["limits"]["nvidia.com/gpu"] == "8" == worker["resources"]["limits"]["nvidia.com/gpu"]
    assert "readinessProbe" in leader and "readinessProbe" not in worker
    assert tpl["workerTemplate"]["metadata"]["labels"][SERVES] == "false"


def test_model_from_a_pvc_and_trtllm_options() -> None:
    docs = render(
        request(
            MOE_EP,
            engine="trtllm",
            model={"pvc": {"claimName": "weights", "path": "qwen"}},
            env=[{"name": "A", "value": "1"}],
        ),
        API,
    )
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment", "Service", "PodDisruptionBudget"]
    options = next(iter(docs[0]["data"].values()))
    assert "dtype: fp8" in options and "enable_attention_dp: true" in options
    pod = docs[1]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["args"][0] == "/models/qwen"
    assert {"name": "model", "persistentVolumeClaim": {"claimName": "weights", "readOnly": True}} in pod["volumes"]
    assert c["env"] == [{"name": "A", "value": "1"}]


def test_rendering_is_deterministic() -> None:
    assert render(request(DENSE_TP), API) == render(request(DENSE_TP), API)

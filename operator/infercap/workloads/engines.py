"""Engine command lines from a serving plan: vLLM, SGLang and TensorRT-LLM.

Every flag that the plan decides comes from the plan (tensor / pipeline / data / expert parallel sizes,
max concurrent sequences = planned batch, max model length = planned context, KV-cache dtype,
quantization when the planned precision is below the checkpoint's, memory fraction from the memory
plan); the user's spec.serving.args are appended after them. Flag names follow each engine's CLI
reference: vLLM `vllm serve`, SGLang `python3 -m sglang.launch_server`, TensorRT-LLM `trtllm-serve`.

A replica that spans nodes runs as a LeaderWorkerSet group; the leader serves HTTP and the workers
join it through the address LeaderWorkerSet injects (LWS_LEADER_ADDRESS, LWS_WORKER_INDEX).
"""

from __future__ import annotations

from dataclasses import dataclass

from infercap.api.serving import Engine
from infercap.api.types import Precision
from infercap.workloads.plan import ServingPlan

RAY_PORT = 6379
SGLANG_DIST_PORT = 20000
TRTLLM_OPTIONS = "/etc/infercap/engine/extra-llm-api-options.yaml"


@dataclass(frozen=True)
class Command:
    """Container command and args of one role: "server" (a single-node replica), "leader" or "worker"."""

    command: list[str]
    args: list[str]


def _quantization(sp: ServingPlan, fp8: str, fp4: str | None) -> list[str]:
    """Online quantization when the plan runs the weights below the checkpoint's precision; a
    checkpoint already in the planned precision carries its own quantization config."""
    if sp.precision == sp.native_precision:
        return []
    if sp.precision == Precision.FP8:
        return ["--quantization", fp8]
    if sp.precision == Precision.FP4 and fp4:
        return ["--quantization", fp4]
    return []


def _shell(*parts: str) -> list[str]:
    return ["/bin/sh", "-c", " ".join(parts)]


def vllm(sp: ServingPlan, model: str, name: str, port: int, extra: list[str]) -> dict[str, Command]:
    dp = sp.attention_data_parallel
    args = [
        model,
        "--served-model-name",
        name,
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        # Attention data parallel: vLLM's DP x TP spans the replica's tensor group; MoE layers then run
        # expert parallel over all DP x TP chips.
        "--tensor-parallel-size",
        str(sp.tensor // dp),
        "--pipeline-parallel-size",
        str(sp.pipeline),
    ]
    if dp > 1:
        args += ["--data-parallel-size", str(dp)]
    if sp.expert_parallel:
        args.append("--enable-expert-parallel")
    args += [
        "--max-num-seqs",
        str(sp.max_sequences),
        "--max-model-len",
        str(sp.max_model_len),
        "--kv-cache-dtype",
        "fp8" if sp.kv_cache_precision == Precision.FP8 else "auto",
        "--gpu-memory-utilization",
        f"{sp.gpu_memory_fraction:.2f}",
        *_quantization(sp, "fp8", "modelopt_fp4"),
    ]
    if sp.nodes_per_replica == 1:
        return {"server": Command(["vllm", "serve"], args + extra)}
    # Across nodes vLLM runs on a Ray cluster: the leader heads it and serves, workers join it.
    serve = " ".join(["vllm", "serve", *args, "--distributed-executor-backend", "ray", *extra])
    return {
        "leader": Command(_shell(f"ray start --head --port={RAY_PORT} &&", "exec", serve), []),
        "worker": Command(_shell(f"exec ray start --address=$LWS_LEADER_ADDRESS:{RAY_PORT} --block"), []),
    }


def sglang(sp: ServingPlan, model: str, name: str, port: int, extra: list[str]) -> dict[str, Command]:
    dp = sp.attention_data_parallel
    args = [
        "--model-path",
        model,
        "--served-model-name",
        name,
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--tp-size",
        str(sp.tensor),
        "--pp-size",
        str(sp.pipeline),
    ]
    if dp > 1:
        args += ["--enable-dp-attention", "--dp-size", str(dp)]
    if sp.expert_parallel:
        args += ["--ep-size", str(sp.tensor)]
    args += [
        "--max-running-requests",
        str(sp.max_sequences),
        "--context-length",
        str(sp.max_model_len),
        "--kv-cache-dtype",
        "fp8_e4m3" if sp.kv_cache_precision == Precision.FP8 else "auto",
        "--mem-fraction-static",
        f"{sp.static_memory_fraction:.2f}",
        *_quantization(sp, "fp8", "modelopt_fp4"),
    ]
    launch = ["python3", "-m", "sglang.launch_server"]
    if sp.nodes_per_replica == 1:
        return {"server": Command(launch, args + extra)}
    # Every node runs the same launcher with its rank; rank 0 (the leader) serves HTTP.
    multi = [
        "--nnodes",
        str(sp.nodes_per_replica),
        "--dist-init-addr",
        f"$(LWS_LEADER_ADDRESS):{SGLANG_DIST_PORT}",
    ]
    return {
        "leader": Command(launch, args + multi + ["--node-rank", "0"] + extra),
        "worker": Command(launch, args + multi + ["--node-rank", "$(LWS_WORKER_INDEX)"] + extra),
    }


def trtllm_options(sp: ServingPlan) -> str:
    """The --extra_llm_api_options file: what trtllm-serve takes only from it."""
    lines = [
        "kv_cache_config:",
        f"  dtype: {'fp8' if sp.kv_cache_precision == Precision.FP8 else 'auto'}",
        f"  free_gpu_memory_fraction: {sp.kv_free_memory_fraction:.2f}",
    ]
    if sp.attention_data_parallel > 1:
        lines.append("enable_attention_dp: true")
    return "\n".join(lines) + "\n"


def trtllm(sp: ServingPlan, model: str, name: str, port: int, extra: list[str]) -> dict[str, Command]:
    args = [
        model,
        "--backend",
        "pytorch",
        "--served_model_name",
        name,
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--tp_size",
        str(sp.tensor),
        "--pp_size",
        str(sp.pipeline),
    ]
    if sp.expert_parallel:
        args += ["--ep_size", str(sp.tensor)]
    args += [
        "--max_batch_size",
        str(sp.max_sequences),
        "--max_seq_len",
        str(sp.max_model_len),
        "--kv_cache_free_gpu_memory_fraction",
        f"{sp.kv_free_memory_fraction:.2f}",
        "--extra_llm_api_options",
        TRTLLM_OPTIONS,
    ]
    # TensorRT-LLM's PyTorch backend takes quantization from the checkpoint (ModelOpt FP8 / NVFP4):
    # a plan below the checkpoint's precision needs a quantized checkpoint in spec.serving.model.
    if sp.nodes_per_replica == 1:
        return {"server": Command(["trtllm-serve"], args + extra)}
    # Across nodes TensorRT-LLM runs as one MPI job launched from the leader over the group's pods.
    world = sp.chips_per_replica
    serve = " ".join(["trtllm-llmapi-launch", "trtllm-serve", *args, *extra])
    return {
        "leader": Command(
            _shell(
                # Worker pods are <leader pod name>-<index> in the leader's DNS domain.
                "h=${LWS_LEADER_ADDRESS%%.*}; d=${LWS_LEADER_ADDRESS#*.}; hosts=$LWS_LEADER_ADDRESS;",
                "for i in $(seq 1 $((LWS_GROUP_SIZE - 1))); do hosts=$hosts,$h-$i.$d; done;",
                f"exec mpirun --allow-run-as-root -np {world} --npernode {sp.chips_per_node} --host $hosts",
                serve,
            ),
            [],
        ),
        "worker": Command(_shell("exec /usr/sbin/sshd -D"), []),
    }


def commands(engine: Engine, sp: ServingPlan, model: str, name: str, port: int, extra: list[str]) -> dict[str, Command]:
    fn = {Engine.VLLM: vllm, Engine.SGLANG: sglang, Engine.TRTLLM: trtllm}[engine]
    return fn(sp, model, name, port, list(extra))

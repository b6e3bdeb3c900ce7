"""What the workload needs from a plan, in one immutable value: sizes, parallelism, batch, context,
precisions and the memory fractions of the memory plan. Renderers take this, not the planner's objects,
so tests can pin a plan they build themselves."""

from __future__ import annotations

import math
from dataclasses import dataclass

from infercap.api.types import Precision
from infercap.core.planner import Option, Plan


@dataclass(frozen=True)
class ServingPlan:
    accelerator: str
    resource_name: str
    replicas: int
    chips_per_replica: int
    chips_per_node: int
    tensor: int
    pipeline: int
    expert_parallel: bool
    attention_data_parallel: int  # 1: attention is tensor-parallel like the rest
    max_sequences: int  # the planned batch
    max_model_len: int  # the longest request served: see _max_model_len
    precision: Precision
    native_precision: Precision
    kv_cache_precision: Precision
    gpu_memory_fraction: float  # weights + runtime reserve + KV pool, of device memory (vLLM)
    static_memory_fraction: float  # weights + KV pool, of device memory (SGLang)
    kv_free_memory_fraction: float  # KV pool, of the memory left after weights and reserve (TRT-LLM)

    @property
    def nodes_per_replica(self) -> int:
        return max(1, math.ceil(self.chips_per_replica / self.chips_per_node))

    @property
    def chips_per_pod(self) -> int:
        """A replica that fits a node is one pod; a bigger one is one pod per node."""
        return self.chips_per_replica if self.nodes_per_replica == 1 else self.chips_per_node


def _floor2(x: float) -> float:
    # Round down: asking the engine for a little less memory than planned is safe, a little more is not.
    return max(0.05, min(0.98, math.floor(x * 100) / 100))


def _max_model_len(p: Plan, o: Option) -> int:
    """The longest request (input + output) a replica accepts: the model's context limit, capped at what
    its KV-cache pool holds for one sequence (an engine refuses to start with a maximum its cache cannot
    hold), and never below the planned request. The planned mean sizes the batch, not this limit: with
    the mean as the limit, the engine would reject every request longer than average."""
    mem = o.estimate.memory
    planned = o.estimate.workload.peak_context
    if mem.kv_per_sequence <= 0:
        return planned
    # KV bytes grow at most linearly with length (windowed layers stop growing), so this is a floor.
    held = int(planned * mem.kv_pool / mem.kv_per_sequence)
    return max(planned, min(p.model.max_context_tokens, held))


def serving_plan(p: Plan, option: Option | None = None) -> ServingPlan:
    """The serving plan of `option` (default: the applied one)."""
    o = option or p.applied
    est = o.estimate
    assert est.performance is not None
    r = est.replica
    mem = est.memory
    capacity = mem.capacity or 1.0
    free = max(mem.capacity - mem.weights - mem.reserve, 1.0)
    return ServingPlan(
        accelerator=o.accelerator.id,
        resource_name=o.accelerator.resource_name,
        replicas=o.placement.replicas,
        chips_per_replica=o.placement.chips_per_replica,
        chips_per_node=o.placement.chips_per_node,
        tensor=r.tp,
        pipeline=r.stages,
        expert_parallel=est.shape.is_moe,
        attention_data_parallel=r.attention_groups if r.attention_dp else 1,
        max_sequences=est.performance.batch,
        max_model_len=_max_model_len(p, o),
        precision=est.shape.precision,
        native_precision=p.model.native_precision,
        kv_cache_precision=est.shape.kv_precision,
        gpu_memory_fraction=_floor2((mem.weights + mem.reserve + mem.kv_pool) / capacity),
        static_memory_fraction=_floor2((mem.weights + mem.kv_pool) / capacity),
        kv_free_memory_fraction=_floor2(mem.kv_pool / free),
    )

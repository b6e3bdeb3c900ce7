"""The compute model: what one replica (a model on n chips of one accelerator) fits and sustains.

A decode step of a continuously batched engine is modelled as one mixed step over B running
sequences: B decode tokens plus, in steady state, B x I/O chunked-prefill tokens (each step B/O
requests finish and as many start). Each operator group runs at its own roofline,
max(bytes / bandwidth, FLOPs / peak), and the groups add up:

- linear layers (attention projections, dense FFN, shared experts, LM head): weights read once per step;
- routed experts: T tokens touch E x (1 - (1 - k/E)^T) experts per layer (small batches read only
  active experts), and grouped GEMMs lose efficiency when each expert sees few tokens;
- attention: KV-cache reads of the decode tokens, FLOPs of decode and prefill attention (heavy for MLA);
- communication: tensor-parallel all-reduces, expert-parallel all-to-all, pipeline hops between
  scale-up domains, partly overlapped with compute;
- a fixed per-layer step overhead (kernel launches, scheduling).

When B x (1 + I/O) exceeds the engine's token budget per step, the engine cannot run it as one step:
it runs the work as several steps of at most the budget (prefill chunks interleaved with the decode
batch), each re-reading the weights and paying the fixed costs. The budget caps the decode batch itself
only where B alone exceeds it; prefill-heavy workloads run large decode batches at the cost of more steps.

Replica throughput is B / step time; the per-stream speed a user sees is 1 / step time. The largest
B that fits the KV cache, the engine's caps and the speed SLO wins (throughput rises with B).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from enum import StrEnum

from infercap.api.catalog import AcceleratorProfileSpec, Efficiency
from infercap.api.types import Precision
from infercap.core.kernels import KernelCurves, SizedCurves
from infercap.core.shape import BYTES_PER_ELEMENT, GIB, ModelShape, compute_precision

# Rows at which a matmul's row tiles are half filled (tiles are 64-128 rows on current tensor cores).
_ROW_TILE_HALF = 16.0
_ROW_TILE = 128.0
_TILE_AREA = _ROW_TILE * _ROW_TILE
# Workloads (and speed floors) one replica keeps results for: the autoscaler replays few distinct ones,
# and a long-running operator sees new observed lengths with every re-plan.
_PERFORMANCE_CACHE = 256


class Bound(StrEnum):
    """Which resource the step time is mostly spent on."""

    MEMORY = "memory-bandwidth"
    COMPUTE = "compute"
    COMMUNICATION = "communication"
    OVERHEAD = "overhead"


class BatchLimit(StrEnum):
    """What stops the batch from growing further."""

    KV_CACHE = "kv-cache-memory"
    ENGINE_MAX_BATCH = "engine-max-batch"
    TOKENS_PER_STEP = "tokens-per-step"
    STREAM_SPEED = "stream-speed-slo"


@dataclass(frozen=True, slots=True)
class Workload:
    """Mean request shape: input and output tokens."""

    input_tokens: int
    output_tokens: int

    @property
    def peak_context(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def mean_decode_context(self) -> float:
        return self.input_tokens + self.output_tokens / 2


@dataclass(frozen=True, slots=True)
class Memory:
    """Memory of one replica, bytes."""

    capacity: float
    reserve: float
    weights: float
    kv_pool: float
    kv_per_sequence: float

    @property
    def fits(self) -> bool:
        return self.kv_pool >= self.kv_per_sequence > 0

    @property
    def max_sequences(self) -> int:
        return int(self.kv_pool // self.kv_per_sequence) if self.kv_per_sequence else 0


@dataclass(frozen=True, slots=True)
class Step:
    """Time of one mixed decode step at batch B, seconds, split by where it goes."""

    batch: int
    linear: float
    experts: float
    attention: float
    communication: float
    overhead: float
    memory_time: float  # part of linear+experts+attention that was bandwidth-bound
    compute_time: float  # part that was FLOP-bound
    weight_bytes_read: float  # per chip
    kv_bytes_read: float  # per chip

    @property
    def total(self) -> float:
        return self.linear + self.experts + self.attention + self.communication + self.overhead

    @property
    def bound(self) -> Bound:
        parts = {
            Bound.MEMORY: self.memory_time,
            Bound.COMPUTE: self.compute_time,
            Bound.COMMUNICATION: self.communication,
            Bound.OVERHEAD: self.overhead,
        }
        return max(parts, key=lambda k: parts[k])


class Performance:
    """What a replica sustains for a workload at its chosen batch. Time to first token is computed on
    first use: the planner needs it only for TTFT targets and the options it reports."""

    __slots__ = (
        "_input_tokens",
        "_output_tokens",
        "_replica",
        "batch",
        "batch_limit",
        "output_tokens_per_second",
        "prefill_cache",
        "requests_per_second",
        "step",
        "stream_tokens_per_second",
    )

    def __init__(
        self, replica: Replica, input_tokens: int, batch: int, batch_limit: BatchLimit, step: Step, output_tokens: int
    ) -> None:
        self._replica = replica
        self._input_tokens = input_tokens
        self._output_tokens = output_tokens
        self.batch = batch
        self.batch_limit = batch_limit
        self.step = step
        t = step.total
        self.output_tokens_per_second = batch / t
        self.requests_per_second = batch / t / output_tokens
        self.stream_tokens_per_second = 1 / t
        self.prefill_cache: float | None = None

    def scaled(self, time_factor: float) -> Performance:
        """The same batch with every step-time component multiplied by `time_factor` (a measured or
        observed correction of the model): throughput divides by it."""
        st = self.step
        step = replace(
            st,
            linear=st.linear * time_factor,
            experts=st.experts * time_factor,
            attention=st.attention * time_factor,
            communication=st.communication * time_factor,
            overhead=st.overhead * time_factor,
            memory_time=st.memory_time * time_factor,
            compute_time=st.compute_time * time_factor,
        )
        return Performance(self._replica, self._input_tokens, self.batch, self.batch_limit, step, self._output_tokens)

    @property
    def prefill_s(self) -> float:
        """Time to prefill one request alone on the replica."""
        if self.prefill_cache is None:
            self.prefill_cache = self._replica.cached_prefill_time(self._input_tokens)
        return self.prefill_cache

    @property
    def time_to_first_token_s(self) -> float:
        # A new request waits for the running step, then its own prefill (no queueing: headroom keeps
        # queues short).
        return self.prefill_s + self.step.total

    @property
    def time_per_output_token_s(self) -> float:
        return self.step.total


@dataclass(frozen=True, slots=True)
class ChipRates:
    """What one chip of an accelerator achieves for a model shape, whatever the replica's size: the part
    of a Replica that its sizes share (the catalog keeps one per shape and accelerator)."""

    f_linear: float  # achievable FLOP/s of the linear layers' precision
    f_expert: float
    f_attn: float  # attention runs in BF16 unless the KV cache is FP8 and the chip has FP8 tensor cores
    f_lm_head: float
    f_expert_peak: float  # peak FLOP/s of the experts' precision (measured kernel curves scale it)
    bw: float  # achievable memory bandwidth, bytes/s
    peak_bw: float
    bw_up: float  # scale-up link, one direction, as collectives achieve it
    bw_out: float
    latency: float  # seconds per collective
    overhead: float  # fixed seconds per step
    expert_cols: float  # output width of one routed expert matmul
    grouped_gemm: SizedCurves | None  # measured grouped-GEMM curves at the experts' precision


def chip_rates(
    shape: ModelShape, acc: AcceleratorProfileSpec, eff: Efficiency, kernels: KernelCurves | None = None
) -> ChipRates:
    """One chip's rates for this shape. A chip without the weights' format runs them in BF16 (see
    shape.compute_precision); collectives achieve the link's utilization in one direction."""
    supported = set(acc.dense_tflops)
    tflops = acc.dense_tflops
    mfu = eff.flops_utilization
    link = eff.comm_bandwidth_utilization * 1e9 / 2
    return ChipRates(
        f_linear=tflops[compute_precision(shape.precision, supported)] * 1e12 * mfu,
        f_expert=tflops[compute_precision(shape.expert_precision, supported)] * 1e12 * mfu,
        f_attn=tflops[compute_precision(shape.kv_precision, supported)] * 1e12 * mfu,
        f_lm_head=tflops[Precision.BF16] * 1e12 * mfu,
        f_expert_peak=tflops[compute_precision(shape.expert_precision, supported)] * 1e12,
        bw=acc.memory_bandwidth_tbps * 1e12 * eff.memory_bandwidth_utilization,
        peak_bw=acc.memory_bandwidth_tbps * 1e12,
        bw_up=acc.scale_up_bandwidth_gbps * link,
        bw_out=acc.scale_out_bandwidth_gbps * link,
        latency=eff.comm_latency_us * 1e-6,
        overhead=shape.layers * eff.step_overhead_us_per_layer * 1e-6,
        expert_cols=(
            shape.expert_total / (shape.experts * shape.moe_layers * shape.hidden * 3) if shape.is_moe else 0.0
        ),
        grouped_gemm=kernels.grouped_gemm.get(shape.expert_precision) if kernels and shape.is_moe else None,
    )


@functools.lru_cache(maxsize=1024)
def _shape_workload_terms(s: ModelShape, work: Workload) -> tuple[float, float, float, float, float]:
    """The size-independent parts of Replica._per_workload, in its order of operations (so a replica
    of any size divides them exactly as it would compute them). Shapes hash by identity."""
    i, o = work.input_tokens, work.output_tokens
    ctx = work.mean_decode_context
    kv_write = (i / o) * s.kv_bytes_per_token_layer * s.layers
    attn = s.attended_keys(ctx) * s.attn_flops_per_key
    prefill = s.prefill_attended_keys(i) * s.prefill_attn_flops_per_key
    return s.kv_bytes(ctx), kv_write, attn, prefill, 1 + i / o


class Replica:
    """A model on `chips` chips of one accelerator: tensor/expert parallel inside the scale-up domain,
    pipeline parallel across domains. Precomputes per-chip constants so evaluating a batch is cheap."""

    def __init__(
        self,
        shape: ModelShape,
        acc: AcceleratorProfileSpec,
        eff: Efficiency,
        chips: int,
        kernels: KernelCurves | None = None,
        rates: ChipRates | None = None,
    ) -> None:
        """`rates`: chip_rates(shape, acc, eff, kernels), when the caller keeps them for several sizes."""
        self.shape = shape
        self.acc = acc
        self.eff = eff
        self.chips = chips
        self._memory: dict[Workload, Memory] = {}
        self._workload_constants: dict[Workload, tuple[float, float, float, float]] = {}
        self._prefill: dict[int, float] = {}
        self._performance: dict[tuple[Workload, float | None], Performance | None] = {}
        domain = acc.scale_up_domain
        self.stages = 1 if chips <= domain else math.ceil(chips / domain)
        self.tp = chips // self.stages if chips % self.stages == 0 else min(chips, domain)
        r = rates if rates is not None else chip_rates(shape, acc, eff, kernels)
        self.f_linear, self.f_expert, self.f_attn, self.f_lm_head = r.f_linear, r.f_expert, r.f_attn, r.f_lm_head
        self.bw, self.peak_bw = r.bw, r.peak_bw
        self._set_attention_layout(shape, chips)
        self._set_per_token(shape, eff, chips, r)

    def _set_attention_layout(self, shape: ModelShape, chips: int) -> None:
        """How attention is split over the replica's chips, and what that copies."""
        # Attention parallelism. GQA shards attention over at most kv_heads chips; MLA keeps one latent
        # per token and cannot shard it. Past that, MoE and MLA engines run attention data-parallel
        # (each group of chips its own sequences, attention weights copied per group, no KV copies);
        # dense GQA models replicate KV heads instead.
        self.attention_tp = 1 if shape.mla else min(self.tp, shape.kv_heads)
        self.attention_dp = self.tp > self.attention_tp and (shape.mla or shape.is_moe)
        if self.attention_dp:
            groups = self.tp // self.attention_tp
            per_chip_attention = shape.attention_bytes / self.attention_tp / self.stages
            self.kv_replication = 1.0
        else:
            groups = 1
            per_chip_attention = shape.attention_bytes / chips
            self.kv_replication = max(1.0, self.tp / shape.kv_heads) if not shape.mla else 1.0
        self.attention_groups = groups
        self.weights_per_replica = shape.weight_bytes + shape.attention_bytes * (groups - 1)
        sharded = shape.other_bytes - shape.attention_bytes
        self.linear_bytes_per_chip = (sharded + shape.lm_head_bytes) / chips + per_chip_attention

    def _set_per_token(self, shape: ModelShape, eff: Efficiency, chips: int, r: ChipRates) -> None:
        """Matmul widths, communication and the per-token seconds a step is built from."""
        # Average output width of one linear-layer matmul on one chip (4 matmuls a layer: QKV, O,
        # gate/up, down), and of one routed expert (gate/up/down of width ffn).
        self.linear_cols = shape.other_linear / (shape.layers * shape.hidden * 4) / self.tp
        self.expert_cols = r.expert_cols
        self.bw_up, self.bw_out, self.latency, self.overhead = r.bw_up, r.bw_out, r.latency, r.overhead
        # Each chip walks the caches of its own attention group's sequences only.
        self.seconds_per_sequence = (
            shape.layers / self.stages * eff.attention_us_per_sequence_layer * 1e-6 / self.attention_groups
        )
        # Per-token matmul seconds at full efficiency, and communication as fixed + per-token parts.
        self.linear_seconds_per_token = (shape.flops_linear - 2 * shape.lm_head) / chips / self.f_linear
        self.lm_head_seconds_per_token = 2 * shape.lm_head / chips / self.f_lm_head
        self.expert_seconds_per_token = shape.flops_expert / chips / self.f_expert if shape.is_moe else 0.0
        self.expert_bytes_per_covered = shape.moe_layers * shape.expert_bytes_each / chips
        # Measured grouped-GEMM curve (kernel-measured): the experts' roofline at the chip's peaks divided
        # by the fraction of it the engine's MoE kernels reach at this many tokens per expert, instead of
        # the fitted family utilizations and the tile model.
        sized = r.grouped_gemm
        # Weight elements of one expert on one chip (the curves' size axis).
        self.expert_elements = shape.expert_bytes_each / BYTES_PER_ELEMENT[shape.expert_precision] / self.tp
        self.expert_curve = sized.at(self.expert_elements) if sized is not None else None
        self.expert_peak_seconds_per_token = shape.flops_expert / chips / r.f_expert_peak
        self._set_communication()
        self.comm_fixed = self.communication(0.0)
        self.comm_per_token = self.communication(1.0) - self.comm_fixed
        # Tokens one engine step may carry (each attention data-parallel group schedules its own).
        self.token_budget = eff.max_tokens_per_step * self.attention_groups
        # Operands of _time that do not change with the batch (the same operations, done once).
        self._linear_memory_time = self.linear_bytes_per_chip / self.bw
        self._half_tiles = eff.gemm_half_tiles
        self._comm_exposed = 1 - eff.comm_overlap
        self._expert_miss = 1.0 - shape.experts_per_token / shape.experts if shape.is_moe else 1.0

    # ------------------------------------------------------------------ memory

    def memory(self, work: Workload) -> Memory:
        cached = self._memory.get(work)
        if cached is not None:
            return cached
        if len(self._memory) >= _PERFORMANCE_CACHE:
            # Bounded like the best batches: observed request lengths vary with every re-plan.
            self._memory.clear()
            self._workload_constants.clear()
        result = self._memory[work] = self._compute_memory(work)
        return result

    def _compute_memory(self, work: Workload) -> Memory:
        capacity = self.acc.memory_gib * GIB * self.chips
        reserve = self.eff.runtime_reserve_gib * GIB * self.chips
        free = capacity - reserve - self.weights_per_replica
        kv_pool = max(0.0, free * self.eff.kv_cache_fraction)
        kv_seq = self.shape.kv_bytes(work.peak_context) * self.kv_replication
        return Memory(capacity, reserve, self.weights_per_replica, kv_pool, kv_seq)

    def batch_ceiling(self, work: Workload) -> tuple[int, BatchLimit]:
        """The largest batch memory and the engine allow, and which of them binds."""
        return self._ceiling(self.memory(work))

    def _ceiling(self, memory: Memory) -> tuple[int, BatchLimit]:
        kv = memory.max_sequences
        # Engine caps apply per attention data-parallel group (each runs its own scheduler).
        engine = self.eff.max_batch * self.attention_groups
        # The decode batch must fit one step's token budget; prefill beyond it runs as extra steps.
        budget = self.token_budget
        # Ties go to the first: memory, then the engine cap, then the token budget.
        if kv <= engine and kv <= budget:
            return kv, BatchLimit.KV_CACHE
        if engine <= budget:
            return engine, BatchLimit.ENGINE_MAX_BATCH
        return budget, BatchLimit.TOKENS_PER_STEP

    # ------------------------------------------------------------------ time

    def _per_workload(self, work: Workload) -> tuple[float, float, float, float]:
        """Per-sequence constants of a workload: (tokens per decode token incl. prefill share,
        KV bytes read, KV bytes written, attention FLOPs), per chip and step."""
        n = self.chips
        o = work.output_tokens
        kv, kv_write, attn, prefill_attn, per_seq_tokens = _shape_workload_terms(self.shape, work)
        kv_read = kv * self.kv_replication / n
        kv_write = kv_write * self.kv_replication / n
        attn = attn / n
        attn += prefill_attn / (o * n)
        return per_seq_tokens, kv_read, kv_write, attn

    def step(self, batch: int, work: Workload) -> Step:
        """One mixed step: `batch` decode tokens plus their share of chunked prefill."""
        return self._step(batch, self._per_workload(work))

    def _time(self, batch: int, k: tuple[float, float, float, float]) -> float:
        """`_step(batch, k).total` without the breakdown: the planner's inner loop."""
        per_seq_tokens, kv_read, kv_write, attn_flops_seq = k
        all_tokens = batch * per_seq_tokens
        steps = max(1.0, all_tokens / self.token_budget)
        tokens = all_tokens / steps  # per engine step
        bw = self.bw
        half = self._half_tiles
        tiles = max(tokens, _ROW_TILE) * self.linear_cols / _TILE_AREA
        eff = tokens / (tokens + _ROW_TILE_HALF) * tiles / (tiles + half)
        t_cmp = (self.linear_seconds_per_token * tokens + self.lm_head_seconds_per_token * batch / steps) / eff
        total = max(self._linear_memory_time, t_cmp)
        if self.expert_seconds_per_token:
            e, k_ = self.shape.experts, self.shape.experts_per_token
            covered = e * (1.0 - self._expert_miss**tokens)
            # Only covered experts run, each on its share of the routed tokens.
            per_expert = tokens * k_ / covered
            curve = self.expert_curve
            if curve is not None:
                roof = max(
                    covered * self.expert_bytes_per_covered / self.peak_bw, self.expert_peak_seconds_per_token * tokens
                )
                total += roof / curve(per_expert)
            else:
                tiles = max(1.0, covered / self.tp) * max(per_expert, _ROW_TILE) * self.expert_cols / _TILE_AREA
                eff = per_expert / (per_expert + _ROW_TILE_HALF) * tiles / (tiles + half)
                total += max(covered * self.expert_bytes_per_covered / bw, self.expert_seconds_per_token * tokens / eff)
        total += (self.comm_fixed + self.comm_per_token * tokens) * self._comm_exposed + self.overhead
        total *= steps
        total += max(batch * (kv_read + kv_write) / bw, batch * attn_flops_seq / self.f_attn)
        return total + batch * self.seconds_per_sequence

    def _step(self, batch: int, k: tuple[float, float, float, float]) -> Step:
        s = self.shape
        per_seq_tokens, kv_read, kv_write, attn_flops_seq = k
        all_tokens = batch * per_seq_tokens
        # Work past the token budget runs as more engine steps, each re-reading weights (see module doc).
        steps = max(1.0, all_tokens / self.token_budget)
        tokens = all_tokens / steps
        bw = self.bw
        mem = comp = 0.0

        # Linear layers other than routed experts (LM head only for decode tokens: prefill needs logits
        # of its last token alone).
        lin_bytes = self.linear_bytes_per_chip * steps
        t_mem = lin_bytes / bw
        t_cmp = self.linear_seconds_per_token * all_tokens + self.lm_head_seconds_per_token * batch
        t_cmp /= self.gemm_efficiency(tokens, self.linear_cols, 1.0)
        linear = max(t_mem, t_cmp)
        mem, comp = (mem + linear, comp) if t_mem >= t_cmp else (mem, comp + linear)

        # Routed experts.
        experts = 0.0
        exp_bytes = 0.0
        if s.is_moe:
            covered = s.covered_experts(tokens)
            exp_bytes = covered * self.expert_bytes_per_covered * steps
            per_expert = tokens * s.experts_per_token / covered
            if self.expert_curve is not None:
                t_mem = exp_bytes / self.peak_bw
                t_cmp = self.expert_peak_seconds_per_token * all_tokens
                experts = max(t_mem, t_cmp) / self.expert_curve(per_expert)
            else:
                t_mem = exp_bytes / bw
                t_cmp = (
                    self.expert_seconds_per_token
                    * all_tokens
                    / self.gemm_efficiency(per_expert, self.expert_cols, max(1.0, covered / self.tp))
                )
                experts = max(t_mem, t_cmp)
            mem, comp = (mem + experts, comp) if t_mem >= t_cmp else (mem, comp + experts)

        # Attention: decode reads every running sequence's KV cache; prefill chunks add FLOPs.
        kv_bytes = batch * kv_read
        t_mem = (kv_bytes + batch * kv_write) / bw
        t_cmp = batch * attn_flops_seq / self.f_attn
        attention = max(t_mem, t_cmp)
        mem, comp = (mem + attention, comp) if t_mem >= t_cmp else (mem, comp + attention)

        comm = (self.comm_fixed * steps + self.comm_per_token * all_tokens) * (1 - self.eff.comm_overlap)
        # Per-sequence attention cost: each chip walks every sequence's cache for its heads.
        overhead = self.overhead * steps + batch * self.seconds_per_sequence
        # Positional: this runs once per candidate, and keywords cost a third of the construction.
        return Step(batch, linear, experts, attention, comm, overhead, mem, comp, lin_bytes + exp_bytes, kv_bytes)

    def gemm_efficiency(self, rows: float, cols: float, matrices: float) -> float:
        """Share of peak matmul throughput a launch of `matrices` matmuls of rows x cols reaches.

        Two losses: row tiles only partly filled when few tokens reach a matrix (an expert that sees
        8 tokens still pays for a padded tile), and too few output tiles to occupy every core (narrow
        per-chip slices at high tensor parallelism). Below one row tile, libraries split the reduction
        dimension instead, so occupancy is counted from one full row tile."""
        fill = rows / (rows + _ROW_TILE_HALF)
        tiles = matrices * max(rows, _ROW_TILE) * cols / (_ROW_TILE * _ROW_TILE)
        return fill * tiles / (tiles + self.eff.gemm_half_tiles)

    def _set_communication(self) -> None:
        """Per-replica constants of `communication`, computed as it would compute them per call."""
        s = self.shape
        tp = self.tp
        layers_here = s.layers / self.stages
        moe_share = s.moe_layers / s.layers if s.is_moe else 0.0
        self._dense_layers = layers_here * (1 - moe_share)
        self._moe_layers = layers_here * moe_share
        self._ring_tp = 2 * (tp - 1) / tp
        group = self.attention_tp if self.attention_dp else tp
        self._ring_attn = 2 * (group - 1) / group

    def communication(self, tokens: float) -> float:
        """Per-chip communication time of one step over `tokens` tokens, before overlap."""
        s = self.shape
        tp = self.tp
        act = BYTES_PER_ELEMENT[Precision.BF16]
        total = 0.0
        if tp > 1:
            # Ring all-reduces over the tensor-parallel group; an attention data-parallel group reduces
            # over its own chips and its share of the tokens.
            full = self.latency + self._ring_tp * tokens * s.hidden * act / self.bw_up
            if self.attention_dp:
                group = self.attention_tp
                attn = self.latency + self._ring_attn * (tokens * group / tp) * s.hidden * act / self.bw_up
                attn = attn if group > 1 else 0.0
            else:
                attn = full
            moe_layers = self._moe_layers
            total += self._dense_layers * (attn + full) + moe_layers * attn
            if moe_layers:
                # Dispatch in FP8, combine in BF16; each chip sends its share of tokens x top-k.
                a2a_bytes = (tokens / tp) * s.experts_per_token * s.hidden * (1 + act) * (tp - 1) / tp
                total += moe_layers * (2 * self.latency + a2a_bytes / self.bw_up)
        if self.stages > 1:
            hop = 4 * self.latency + tokens * s.hidden * act / self.tp / self.bw_out
            total += (self.stages - 1) * hop / self.stages
        return total

    def prefill_time(self, input_tokens: int) -> float:
        """Time to prefill one request alone on the replica (no queueing)."""
        s = self.shape
        n = self.chips
        linear = (
            s.flops_linear
            * input_tokens
            / n
            / (self.f_linear * self.gemm_efficiency(input_tokens, self.linear_cols, 1.0))
        )
        experts = 0.0
        if s.is_moe:
            covered = s.covered_experts(input_tokens)
            per_expert = input_tokens * s.experts_per_token / covered
            if self.expert_curve is not None:
                experts = self.expert_peak_seconds_per_token * input_tokens / self.expert_curve(per_expert)
            else:
                eff = self.gemm_efficiency(per_expert, self.expert_cols, max(1.0, covered / self.tp))
                experts = s.flops_expert * input_tokens / n / (self.f_expert * eff)
        attention = s.prefill_attended_keys(input_tokens) * s.prefill_attn_flops_per_key / n / self.f_attn
        weights = self.linear_bytes_per_chip + (
            s.covered_experts(input_tokens) * s.moe_layers * s.expert_bytes_each / n
        )
        t = max(linear + experts + attention, weights / self.bw)
        return t + self.communication(input_tokens) * (1 - self.eff.comm_overlap) + self.overhead

    # ------------------------------------------------------------------ performance

    def performance(self, work: Workload, min_stream_tokens_per_second: float | None = None) -> Performance | None:
        """The best batch for this workload under the optional per-stream speed floor; None when the
        model does not fit or the floor cannot be met even at batch 1. A pure function of the replica and
        its arguments, so kept per replica: the operator's re-plans and the autoscaler's replays ask again."""
        key = (work, min_stream_tokens_per_second)
        try:
            return self._performance[key]
        except KeyError:
            pass
        if len(self._performance) >= _PERFORMANCE_CACHE:
            self._performance.clear()
        result = self._performance[key] = self._search_batch(work, min_stream_tokens_per_second)
        return result

    def _search_batch(self, work: Workload, min_stream_tokens_per_second: float | None) -> Performance | None:
        memory = self.memory(work)
        ceiling, limit = self._ceiling(memory)
        if ceiling < 1 or not memory.fits:
            return None
        batch = ceiling
        k = self._workload_constants.get(work)
        if k is None:
            k = self._workload_constants[work] = self._per_workload(work)
        # Without a speed floor the ceiling is the answer: no step time to compare.
        t_ceiling = self._time(batch, k) if min_stream_tokens_per_second is not None else 0.0
        if min_stream_tokens_per_second is not None and t_ceiling * min_stream_tokens_per_second > 1:
            max_step = 1 / min_stream_tokens_per_second
            t1 = self._time(1, k)
            if t1 > max_step:
                return None
            # Step time grows with batch almost linearly: regula falsi (Illinois variant) finds the
            # largest batch under the limit in a few evaluations; bisection finishes any remainder.
            lo, t_lo, hi, t_hi = 1, t1 - max_step, ceiling, t_ceiling - max_step
            side = 0
            for _ in range(8):
                if hi - lo <= 1:
                    break
                mid = lo + int(-t_lo * (hi - lo) / (t_hi - t_lo))
                # Clamped into (lo, hi): integers, and hi - lo >= 2 here.
                mid = lo + 1 if mid <= lo else hi - 1 if mid >= hi else mid
                t_mid = self._time(mid, k) - max_step
                if t_mid <= 0:
                    lo, t_lo = mid, t_mid
                    if side == -1:
                        t_hi /= 2
                    side = -1
                else:
                    hi, t_hi = mid, t_mid
                    if side == 1:
                        t_lo /= 2
                    side = 1
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._time(mid, k) <= max_step:
                    lo = mid
                else:
                    hi = mid
            batch, limit = lo, BatchLimit.STREAM_SPEED
        return Performance(self, work.input_tokens, batch, limit, self._step(batch, k), work.output_tokens)

    def cached_prefill_time(self, input_tokens: int) -> float:
        prefill = self._prefill.get(input_tokens)
        if prefill is None:
            if len(self._prefill) >= _PERFORMANCE_CACHE:
                self._prefill.clear()
            prefill = self._prefill[input_tokens] = self.prefill_time(input_tokens)
        return prefill

"""A model's shape at a chosen precision: parameter groups, bytes, FLOPs and KV-cache size per token.

Everything here is per model replica (not per chip) and independent of the accelerator.
"""

from __future__ import annotations

from dataclasses import dataclass

from infercap.api.catalog import AttentionKind, ModelProfileSpec
from infercap.api.types import Precision

# Bytes per stored weight or KV element. FP4 formats carry a block scale: NVFP4 keeps one FP8 scale per
# 16 values (4.5 bits), MXFP4 one 8-bit scale per 32 (4.25 bits); we use the larger. FP8 block/channel
# scales are < 0.1 % and ignored.
BYTES_PER_ELEMENT: dict[Precision, float] = {
    Precision.BF16: 2.0,
    Precision.FP8: 1.0,
    Precision.FP4: 0.5625,
}

GIB = 1024**3


def compute_precision(weights: Precision, supported: set[Precision]) -> Precision:
    """The matmul precision a chip runs weights of this precision at.

    A chip without the weight format runs it as weight-only quantization: the kernels dequantize the
    weights to the activations' type and multiply in BF16 (FP8 weights on an A100; MXFP4 or NVFP4
    weights on Hopper, which has FP8 tensor cores but no FP4 path: gpt-oss there is W4A16, not FP8
    math). Memory traffic stays small; FLOPs run at the BF16 rate.
    """
    return weights if weights in supported else Precision.BF16


@dataclass(frozen=True, slots=True, eq=False)
class ModelShape:
    """Derived sizes of a model at a precision. Parameter counts are in units (not billions).

    Compared and hashed by identity: the catalog hands out one shape per (model, precisions), so
    caches keyed on it stay cheap."""

    model_id: str
    precision: Precision
    expert_precision: Precision
    kv_precision: Precision
    layers: int
    hidden: int
    q_heads: int
    # Parameter groups.
    embed_stored: float  # input embedding (+ untied LM head), kept in BF16
    lm_head: float  # matmul over the vocabulary, every token
    other_linear: float  # attention, shared experts, dense FFN: read every step
    attention_params: float  # part of other_linear
    expert_total: float  # all routed experts
    experts: int
    experts_per_token: int
    moe_layers: int
    # Bytes.
    weight_bytes: float
    lm_head_bytes: float
    other_bytes: float
    attention_bytes: float
    expert_bytes_each: float  # one routed expert in one layer
    # KV cache.
    kv_bytes_per_token_layer: float  # one token in one layer
    full_layers: int
    window_layers: int
    window: int
    mla: bool
    kv_heads: int
    # FLOPs per token.
    flops_linear: float  # 2 x non-expert matmul params (incl. LM head)
    flops_expert: float  # 2 x active expert params
    attn_flops_per_key: float  # decode FLOPs per (token, attended key) summed over one layer
    prefill_attn_flops_per_key: float

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def active_params(self) -> float:
        """Matmul parameters one token passes through."""
        return self.lm_head + self.other_linear + self.expert_total * self.expert_fraction

    @property
    def total_params(self) -> float:
        return self.embed_stored + self.other_linear + self.expert_total

    @property
    def expert_fraction(self) -> float:
        return self.experts_per_token / self.experts if self.experts else 0.0

    def kv_bytes(self, context: float) -> float:
        """KV-cache bytes of one sequence holding `context` tokens (windowed layers capped)."""
        return self.kv_bytes_per_token_layer * (
            self.full_layers * context + self.window_layers * min(context, self.window)
        )

    def attended_keys(self, context: float) -> float:
        """Keys one new token attends to, summed over layers (decode)."""
        return self.full_layers * context + self.window_layers * min(context, self.window)

    def prefill_attended_keys(self, tokens: float) -> float:
        """Query-key pairs of a causal prefill of `tokens`, summed over layers."""
        full = tokens * tokens / 2
        if tokens <= self.window:
            windowed = full
        else:
            windowed = self.window * self.window / 2 + (tokens - self.window) * self.window
        return self.full_layers * full + self.window_layers * windowed

    def covered_experts(self, tokens: float) -> float:
        """Expected distinct experts per MoE layer that `tokens` routed tokens touch (uniform routing):
        E x (1 - (1 - k/E)^T). Small batches read only the active experts, large ones read all."""
        if not self.experts:
            return 0.0
        e, k = self.experts, self.experts_per_token
        return float(e * (1.0 - (1.0 - k / e) ** tokens))


def model_shape(
    spec: ModelProfileSpec,
    precision: Precision | None = None,
    kv_precision: Precision | None = None,
) -> ModelShape:
    """Derive a model's shape. `precision` overrides the weights' native precision for every linear
    layer (embeddings stay BF16, as serving engines keep them); `kv_precision` defaults to the weight
    precision capped at FP8 (engines that quantize weights to FP8/FP4 keep an FP8 KV cache)."""
    arch = spec.architecture
    linear_p = precision or spec.native_precision
    expert_p = precision or spec.native_expert_precision or spec.native_precision
    if kv_precision is None:
        kv_precision = Precision.BF16 if linear_p == Precision.BF16 else Precision.FP8
    vocab_params = float(arch.vocab_size * arch.hidden_size)
    lm_head = vocab_params
    embed_in_extra = 0.0 if arch.tied_embeddings else vocab_params
    embed_stored = vocab_params + embed_in_extra

    other, expert_total, (experts, k, moe_layers) = _split_params(spec, lm_head, embed_in_extra, embed_stored)

    attention = _attention_params(spec)
    attention = min(attention, other)

    wb = BYTES_PER_ELEMENT[linear_p]
    eb = BYTES_PER_ELEMENT[expert_p]
    kvb = BYTES_PER_ELEMENT[kv_precision]
    lm_head_bytes = lm_head * 2.0
    other_bytes = other * wb
    expert_bytes = expert_total * eb
    weight_bytes = embed_stored * 2.0 + other_bytes + expert_bytes

    window_layers = arch.sliding_window.layers if arch.sliding_window else 0
    window = arch.sliding_window.window if arch.sliding_window else 0
    kv_per_token_layer, attn_per_key, pre_per_key, is_mla = _attention_costs(spec, kvb)

    return ModelShape(
        model_id=spec.id,
        precision=linear_p,
        expert_precision=expert_p,
        kv_precision=kv_precision,
        layers=arch.layers,
        hidden=arch.hidden_size,
        q_heads=arch.attention_heads,
        embed_stored=embed_stored,
        lm_head=lm_head,
        other_linear=other,
        attention_params=attention,
        expert_total=expert_total,
        experts=experts,
        experts_per_token=k,
        moe_layers=moe_layers,
        weight_bytes=weight_bytes,
        lm_head_bytes=lm_head_bytes,
        other_bytes=other_bytes,
        attention_bytes=attention * wb,
        expert_bytes_each=(expert_bytes / (experts * moe_layers)) if experts else 0.0,
        kv_bytes_per_token_layer=kv_per_token_layer,
        full_layers=arch.layers - window_layers,
        window_layers=window_layers,
        window=window,
        mla=is_mla,
        kv_heads=arch.kv_heads,
        flops_linear=2.0 * (other + lm_head),
        flops_expert=2.0 * expert_total * (k / experts if experts else 0.0),
        attn_flops_per_key=attn_per_key,
        prefill_attn_flops_per_key=pre_per_key,
    )


def _split_params(
    spec: ModelProfileSpec, lm_head: float, embed_in_extra: float, embed_stored: float
) -> tuple[float, float, tuple[int, int, int]]:
    """(non-expert linear parameters, all experts' parameters, (experts, experts per token, MoE layers))
    from the published totals."""
    b = 1e9
    moe = spec.architecture.moe
    if moe is None:
        # Dense models publish total == active, both counting the input embedding.
        return max(spec.total_params_b * b - embed_stored, 0.0), 0.0, (0, 0, 0)
    experts, k, moe_layers = moe.experts, moe.experts_per_token, moe.moe_layers
    frac = k / experts
    if moe.expert_params_b is not None:
        expert_total = moe.expert_params_b * b
    else:
        # MoE models publish active as matmul weights (no input-embedding lookup).
        expert_total = (spec.total_params_b * b - spec.active_params_b * b - embed_in_extra) / (1 - frac)
    other = spec.active_params_b * b - lm_head - expert_total * frac
    return max(other, 0.0), expert_total, (experts, k, moe_layers)


def _attention_costs(spec: ModelProfileSpec, kvb: float) -> tuple[float, float, float, bool]:
    """(KV-cache bytes per token and layer, decode attention FLOPs per key, prefill attention FLOPs per
    key, whether attention is MLA)."""
    arch = spec.architecture
    if arch.attention == AttentionKind.MLA:
        assert arch.mla is not None
        mla = arch.mla
        kv_per_token_layer = (mla.kv_lora_rank + mla.qk_rope_head_dim) * kvb
        # Decode with absorbed weights attends in latent space: scores over (r + rope), values over r.
        attn_per_key = 2.0 * arch.attention_heads * (2 * mla.kv_lora_rank + mla.qk_rope_head_dim)
        # Prefill materializes per-head keys (nope + rope) and values.
        pre_per_key = 2.0 * arch.attention_heads * (mla.qk_nope_head_dim + mla.qk_rope_head_dim + mla.v_head_dim)
        return kv_per_token_layer, attn_per_key, pre_per_key, True
    attn_per_key = 4.0 * arch.attention_heads * arch.head_dim  # QK^T and AV, 2 FLOPs each
    return 2.0 * arch.kv_heads * arch.head_dim * kvb, attn_per_key, attn_per_key, False


def _attention_params(spec: ModelProfileSpec) -> float:
    """Attention projection parameters over all layers (used where attention is data-parallel)."""
    a = spec.architecture
    if a.attention == AttentionKind.MLA and a.mla is not None:
        m = a.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        q = (
            (a.hidden_size * m.q_lora_rank + m.q_lora_rank * a.attention_heads * qk)
            if m.q_lora_rank
            else (a.hidden_size * a.attention_heads * qk)
        )
        kv = a.hidden_size * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank * a.attention_heads * (
            m.qk_nope_head_dim + m.v_head_dim
        )
        o = a.attention_heads * m.v_head_dim * a.hidden_size
        return float(a.layers * (q + kv + o))
    q_and_o = 2 * a.hidden_size * a.attention_heads * a.head_dim
    kv = 2 * a.hidden_size * a.kv_heads * a.head_dim
    return float(a.layers * (q_and_o + kv))

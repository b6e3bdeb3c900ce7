"""Model shapes: KV-cache bytes, weight bytes and MoE expert coverage against hand-derived figures
(shared REFERENCE.md, section B.1 and D.7)."""

from __future__ import annotations

import pytest

from infercap.api.types import Precision
from infercap.core.catalog import Catalog
from infercap.core.shape import GIB, compute_precision, model_shape

BF16 = Precision.BF16


@pytest.mark.parametrize(
    ("model", "kv_bytes_per_token"),
    [
        ("llama-3.1-8b", 131_072),  # 2*32*8*128*2
        ("llama-3.1-70b", 327_680),
        ("llama-3.1-405b", 516_096),
        ("mixtral-8x7b", 131_072),
        ("mixtral-8x22b", 229_376),
        ("qwen3-235b-a22b", 192_512),
        ("qwen3-30b-a3b", 98_304),
        ("deepseek-v3", 70_272),  # MLA: 61*(512+64)*2, one latent per token
        ("kimi-k2", 70_272),
    ],
)
def test_kv_bytes_per_token_full_attention(catalog: Catalog, model: str, kv_bytes_per_token: int) -> None:
    shape = model_shape(catalog.model(model), kv_precision=BF16)
    assert shape.kv_bytes(1000) == pytest.approx(1000 * kv_bytes_per_token)


def test_fp8_kv_halves_the_cache(catalog: Catalog) -> None:
    m = catalog.model("llama-3.1-70b")
    assert model_shape(m, kv_precision=Precision.FP8).kv_bytes(4096) * 2 == model_shape(m, kv_precision=BF16).kv_bytes(
        4096
    )


def test_windowed_layers_stop_growing(catalog: Catalog) -> None:
    # gpt-oss-120b: 18 full layers grow (18*8*64*2*2 = 36,864 B/token); 18 windowed layers hold 128 tokens.
    shape = model_shape(catalog.model("gpt-oss-120b"), kv_precision=BF16)
    per_layer = 2 * 8 * 64 * 2
    assert shape.kv_bytes(10_000) == pytest.approx(18 * per_layer * 10_000 + 18 * per_layer * 128)
    assert shape.kv_bytes(20_000) - shape.kv_bytes(10_000) == pytest.approx(36_864 * 10_000)
    # Llama 4 Scout: 36 chunked layers capped at 8,192 tokens, 12 global ones grow (49,152 B/token at BF16).
    scout = model_shape(catalog.model("llama-4-scout"), kv_precision=BF16)
    assert scout.kv_bytes(8192) == pytest.approx(196_608 * 8192)
    assert scout.kv_bytes(100_000) - scout.kv_bytes(50_000) == pytest.approx(49_152 * 50_000)


@pytest.mark.parametrize(("tokens", "expected"), [(1, 8), (8, 57), (32, 163), (128, 252), (1024, 256)])
def test_deepseek_expert_coverage(catalog: Catalog, tokens: int, expected: int) -> None:
    shape = model_shape(catalog.model("deepseek-v3"))
    assert shape.covered_experts(tokens) == pytest.approx(expected, abs=1)


def test_dense_model_touches_no_experts(catalog: Catalog) -> None:
    assert model_shape(catalog.model("llama-3.1-8b")).covered_experts(1000) == 0


@pytest.mark.parametrize("model_id", ["llama-3.1-8b", "deepseek-r1", "gpt-oss-120b", "mixtral-8x7b", "kimi-k2"])
def test_parameter_groups_add_up_to_the_published_counts(catalog: Catalog, model_id: str) -> None:
    m = catalog.model(model_id)
    shape = model_shape(m)
    assert shape.total_params / 1e9 == pytest.approx(m.total_params_b, rel=0.03)
    if m.architecture.moe is not None:
        assert shape.active_params / 1e9 == pytest.approx(m.active_params_b, rel=0.03)


def test_weights_follow_precision(catalog: Catalog) -> None:
    m = catalog.model("llama-3.1-70b")
    bf16 = model_shape(m, Precision.BF16).weight_bytes
    fp8 = model_shape(m, Precision.FP8).weight_bytes
    fp4 = model_shape(m, Precision.FP4).weight_bytes
    assert bf16 / GIB == pytest.approx(131.5, rel=0.01)  # 70.6 B x 2 bytes
    # Embeddings stay in BF16, so FP8 is a bit more than half and FP4 (with block scales) more than a quarter.
    assert 0.5 < fp8 / bf16 < 0.53
    assert 0.28 < fp4 / bf16 < 0.32


def test_gpt_oss_native_mixed_precision(catalog: Catalog) -> None:
    shape = model_shape(catalog.model("gpt-oss-120b"))
    assert shape.precision == Precision.BF16 and shape.expert_precision == Precision.FP4
    # MXFP4 experts (114.7 B) + BF16 rest: about 61 GiB, the size of the published checkpoint (~63 GB).
    assert 58 < shape.weight_bytes / GIB < 66


def test_weight_only_quantization_runs_bf16_math() -> None:
    assert compute_precision(Precision.FP8, {Precision.BF16}) == Precision.BF16
    # FP4 weights on Hopper (FP8 tensor cores, no FP4): dequantized to BF16, not to FP8.
    assert compute_precision(Precision.FP4, {Precision.BF16, Precision.FP8}) == Precision.BF16
    assert compute_precision(Precision.FP4, set(Precision)) == Precision.FP4

"""The built-in catalog: every required entry, sourced and consistent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from infercap.api.catalog import AcceleratorProfileSpec, ModelProfileSpec
from infercap.core.catalog import Catalog, parse_families
from infercap.core.errors import PlanError

ACCELERATORS = {
    "a100",
    "h100",
    "h200",
    "b200",
    "b300",
    "gb200",
    "gb300",
    "l4",
    "l40s",
    "mi300x",
    "mi325x",
    "mi355x",
    "tpu-v5e",
    "tpu-v5p",
    "tpu-v6e",
    "tpu7x",
    "trn2",
}
MODELS = {
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.3-70b",
    "llama-3.1-405b",
    "llama-2-70b",
    "llama-4-scout",
    "llama-4-maverick",
    "mixtral-8x7b",
    "mixtral-8x22b",
    "deepseek-v3",
    "deepseek-r1",
    "qwen3-235b-a22b",
    "qwen3-30b-a3b",
    "gpt-oss-120b",
    "gpt-oss-20b",
    "gemma-3-27b",
    "kimi-k2",
    "gpt-5.5",
    "gemini-3.5-flash",
}


def test_required_ids_are_present(catalog: Catalog) -> None:
    assert set(catalog.accelerators) == ACCELERATORS
    assert set(catalog.models) == MODELS


@pytest.mark.parametrize("acc_id", sorted(ACCELERATORS))
def test_accelerators_are_sourced_and_priced(catalog: Catalog, acc_id: str) -> None:
    acc = catalog.accelerators[acc_id]
    assert acc.sources, "every entry records where its numbers come from"
    assert acc.price.per_chip_hour > 0
    assert acc.price.source and acc.price.date
    assert any(label in acc.price.source for label in ("FACT", "RECALLED", "DERIVED", "ESTIMATE"))
    assert acc.resource_name in ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "aws.amazon.com/neuron")
    assert acc.node_labels, "an accelerator must be selectable by node labels"
    # Ridge points stay in the physical range of current accelerators (REFERENCE.md A.1).
    ridge = acc.dense_tflops[max(acc.dense_tflops, key=lambda p: acc.dense_tflops[p])] / acc.memory_bandwidth_tbps
    assert 100 < ridge < 2000


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_models_are_sourced(catalog: Catalog, model_id: str) -> None:
    m = catalog.models[model_id]
    assert m.sources
    assert m.max_context_tokens >= 4096


def test_seed_models_carry_published_figures(catalog: Catalog) -> None:
    gpt, gemini = catalog.models["gpt-5.5"], catalog.models["gemini-3.5-flash"]
    assert gpt.estimated and gemini.estimated
    assert gpt.published is not None and gemini.published is not None
    assert gpt.published.output_tokens_per_second == 70
    assert gemini.published.output_tokens_per_second == 289
    assert gpt.api_price is not None and gpt.api_price.output_per_million == Decimal(30)
    assert gemini.api_price is not None and gemini.api_price.input_per_million == Decimal("1.5")


def test_tpus_use_slices_and_gpus_use_nodes(catalog: Catalog) -> None:
    for acc in catalog.accelerators.values():
        if acc.vendor.value == "google":
            assert acc.slice_shapes and not acc.node_shapes
        else:
            assert acc.node_shapes and not acc.slice_shapes


def test_unknown_ids_suggest_the_closest(catalog: Catalog) -> None:
    with pytest.raises(PlanError) as err:
        catalog.model("llama-3.1-7b")
    assert err.value.reason == "UnknownModel"
    assert "did you mean" in err.value.message and "llama-3.1-8b" in err.value.message
    with pytest.raises(PlanError) as err2:
        catalog.accelerator("h300")
    assert err2.value.reason == "UnknownAccelerator"


def test_overrides_replace_and_add(catalog: Catalog) -> None:
    h100 = catalog.accelerators["h100"]
    cheap = AcceleratorProfileSpec.model_validate(
        {**h100.model_dump(by_alias=True), "price": {"perChipHour": "2.10", "source": "negotiated"}}
    )
    new_model = ModelProfileSpec.model_validate(
        {**catalog.models["llama-3.1-8b"].model_dump(by_alias=True), "id": "my-llama"}
    )
    cat2 = catalog.with_overrides([new_model], [cheap])
    assert cat2.accelerator("h100").price.per_chip_hour == Decimal("2.10")
    assert cat2.model("my-llama").total_params_b == 8.03
    assert catalog.accelerator("h100").price.per_chip_hour != Decimal("2.10"), "the built-in stays"


def test_price_override_must_be_positive(catalog: Catalog) -> None:
    with pytest.raises(PlanError):
        catalog.with_prices({"h100": Decimal(0)}, "test")


def test_families_borrow_factors() -> None:
    fams = parse_families(
        {
            "families": {
                "a": {
                    "calibrated": True,
                    "memoryBandwidthUtilization": 0.8,
                    "flopsUtilization": 0.6,
                    "gemmHalfTiles": 100,
                    "stepOverheadUsPerLayer": 0,
                    "maxBatch": 512,
                    "maxTokensPerStep": 4096,
                    "runtimeReserveGiB": 3,
                    "kvCacheFraction": 0.9,
                    "commLatencyUs": 10,
                    "commOverlap": 0,
                },
                "b": {"calibrated": False, "like": "a"},
            }
        }
    )
    assert fams["b"].efficiency == fams["a"].efficiency
    assert fams["a"].calibrated and not fams["b"].calibrated and fams["b"].borrowed_from == "a"

"""`compare`: published figures reproduced, physics computed, disagreements found (not hard-coded)."""

from __future__ import annotations

from typing import Any

import pytest

from infercap.api.catalog import ModelProfileSpec
from infercap.core.catalog import Catalog
from infercap.core.compare import compare, comparison_dict


@pytest.fixture(scope="module")
def seed(catalog: Catalog) -> dict[str, Any]:
    return comparison_dict(compare(catalog, "gpt-5.5", "gemini-3.5-flash"))


def test_published_figures_are_reproduced(seed: dict[str, Any]) -> None:
    gpt, gemini = seed["models"]
    assert gpt["published"]["computePerInferencePflops"] == {"low": 2.8, "high": 2.8}
    assert gemini["published"]["computePerInferencePflops"] == {"low": 0.7, "high": 0.7}
    assert gpt["published"]["outputTokensPerSecond"] == 70
    assert gemini["published"]["outputTokensPerSecond"] == 289
    assert gpt["apiPrice"]["outputPerMillion"] == "30" and gemini["apiPrice"]["inputPerMillion"] == "1.5"
    ratios = {r["figure"]: r for r in seed["ratios"]}
    assert ratios["computePerInference"]["published"] == {"low": 3.0, "high": 4.0}
    assert ratios["apiOutputPrice"]["published"]["low"] == pytest.approx(30 / 9, abs=0.01)


def test_physics_is_computed(seed: dict[str, Any]) -> None:
    gpt, gemini = seed["models"]
    # 2 x 500 B active = 1 TFLOP per token (+ attention).
    assert 1.0 <= gpt["analytic"]["tflopsPerOutputToken"] < 1.1
    assert gpt["analytic"]["activationRatePercent"] == pytest.approx(500 / 2750 * 100, abs=0.1)
    ratios = {r["figure"]: r for r in seed["ratios"]}
    assert ratios["computePerInference"]["analytic"] == pytest.approx(
        gpt["analytic"]["pflopsPerReferenceRequest"] / gemini["analytic"]["pflopsPerReferenceRequest"], rel=0.01
    )


def test_disagreements_are_found(seed: dict[str, Any]) -> None:
    text = "\n".join(seed["disagreements"])
    assert "4 x h200 hold 562 GiB" in text  # 2.75 T parameters do not fit 4 x 141 GB even at FP4
    assert "1 x tpu-v6e hold 32 GiB" in text
    assert "stated activation rate 30-40 % contradicts" in text
    assert "whole request of about 2,800 tokens" in text
    claims = {c["accelerator"]: c for c in seed["models"][0]["analytic"]["instanceClaims"]}
    assert claims["h200"]["fits"] is False and claims["h200"]["chipsNeededForWeights"] >= 10


def test_consistent_sources_raise_no_memory_disagreement(catalog: Catalog) -> None:
    # A made-up published block that is internally consistent produces none of the memory or
    # activation-rate complaints: the checks look at the numbers, not at the model names.
    base = catalog.model("llama-3.1-8b").model_dump(by_alias=True)
    honest = ModelProfileSpec.model_validate(
        {
            **base,
            "id": "honest-8b",
            "published": {
                "totalParamsB": {"low": 8, "high": 8.1},
                "activeParamsB": {"low": 8, "high": 8.1},
                "activationRatePercent": {"low": 99, "high": 100},
                "instance": [{"accelerator": "h100", "chips": {"low": 1, "high": 1}, "precision": "bf16"}],
            },
        }
    )
    cat = catalog.with_overrides([honest])
    d = comparison_dict(compare(cat, "honest-8b", "llama-3.1-8b"))
    assert not [x for x in d["disagreements"] if "hold" in x or "activation rate" in x]


def test_any_two_models(catalog: Catalog) -> None:
    d = comparison_dict(compare(catalog, "llama-3.1-8b", "mixtral-8x7b"))
    assert [m["model"] for m in d["models"]] == ["llama-3.1-8b", "mixtral-8x7b"]
    assert any(r["figure"] == "computePerInference" for r in d["ratios"])

"""Money arithmetic in Decimal."""

from __future__ import annotations

from decimal import Decimal

from infercap.api.catalog import ApiPrice, Price
from infercap.core.cost import plan_cost


def test_hourly_monthly_and_per_million() -> None:
    c = plan_cost(8, Price(per_chip_hour=Decimal("2.50")), 1000.0, 4000.0, None)
    assert c.hourly == Decimal("20.00")
    assert c.monthly == Decimal("14600.00")  # 730 h
    # $20/h over 3.6 M output tokens per hour.
    assert c.per_million_output_tokens == Decimal("5.5556")
    assert c.api_hourly is None and c.vs_api is None
    assert c.to_dict() == {
        "currency": "USD",
        "hourly": "20.00",
        "monthly": "14600.00",
        "perMillionOutputTokens": "5.5556",
    }


def test_api_comparison() -> None:
    api = ApiPrice(input_per_million=Decimal(1), output_per_million=Decimal(4))
    c = plan_cost(1, Price(per_chip_hour=Decimal(3)), 100.0, 1000.0, api)
    # (1000 x 1 + 100 x 4) / 1e6 x 3600 = 5.04 per hour.
    assert c.api_hourly == Decimal("5.04")
    assert c.vs_api == Decimal("0.5952")


def test_zero_load_has_no_per_token_cost() -> None:
    c = plan_cost(1, Price(per_chip_hour=Decimal(1)), 0.0, 0.0, None)
    assert c.per_million_output_tokens is None and c.hourly == Decimal("1.00")

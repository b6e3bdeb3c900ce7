"""Money: what a number of chips costs per hour, per month and per million tokens, in Decimal."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

from infercap.api.catalog import ApiPrice, Price

HOURS_PER_MONTH = Decimal(730)  # 8,760 h / 12, the convention cloud price lists use
CENT = Decimal("0.01")
MICRO = Decimal("0.0001")


# Enough digits that no bounded plan (chips x price x hours, or cost per token at the least demand) hits
# the default 28-digit context, where quantize() raises instead of rounding.
_CONTEXT = Context(prec=80)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=_CONTEXT)


def money_display(value: Decimal | str | float, currency: str = "USD") -> str:
    """1234567.8 -> '$1,234,567.80' (other currencies: '1,234,567.80 EUR')."""
    amount = f"{Decimal(str(value)):,.2f}"
    return f"${amount}" if currency == "USD" else f"{amount} {currency}"


def fine(value: Decimal) -> Decimal:
    return value.quantize(MICRO, rounding=ROUND_HALF_UP, context=_CONTEXT)


@dataclass(frozen=True)
class Cost:
    """Cost of a plan at its planned load."""

    currency: str
    hourly: Decimal
    monthly: Decimal
    per_million_output_tokens: Decimal | None
    api_hourly: Decimal | None  # the same traffic through the vendor's API, if it has one

    @property
    def vs_api(self) -> Decimal | None:
        """Self-hosted cost as a fraction of the API's (below 1: self-hosting is cheaper)."""
        if self.api_hourly is None or self.api_hourly == 0:
            return None
        return fine(self.hourly / self.api_hourly)

    def to_dict(self) -> dict[str, str]:
        out = {"currency": self.currency, "hourly": str(self.hourly), "monthly": str(self.monthly)}
        if self.per_million_output_tokens is not None:
            out["perMillionOutputTokens"] = str(self.per_million_output_tokens)
        if self.api_hourly is not None:
            out["apiHourly"] = str(self.api_hourly)
            ratio = self.vs_api
            if ratio is not None:
                out["vsApi"] = str(ratio)
        return out


def plan_cost(
    chips: int,
    price: Price,
    output_tokens_per_second: float,
    input_tokens_per_second: float,
    api_price: ApiPrice | None,
) -> Cost:
    """Cost of `chips` chips serving this load; per-million figures use the planned (not peak) load."""
    hourly_exact = price.per_chip_hour * chips
    per_million = None
    if output_tokens_per_second > 0:
        tokens_per_hour = Decimal(repr(output_tokens_per_second)) * 3600
        per_million = fine(hourly_exact / tokens_per_hour * 1_000_000)
    api_hourly = None
    if api_price is not None and api_price.currency == price.currency:
        per_hour = (
            (
                Decimal(repr(input_tokens_per_second)) * api_price.input_per_million
                + Decimal(repr(output_tokens_per_second)) * api_price.output_per_million
            )
            * 3600
            / 1_000_000
        )
        api_hourly = money(per_hour)
    return Cost(
        currency=price.currency,
        hourly=money(hourly_exact),
        monthly=money(hourly_exact * HOURS_PER_MONTH),
        per_million_output_tokens=per_million,
        api_hourly=api_hourly,
    )

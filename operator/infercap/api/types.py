"""Shared field types: precisions, decimal strings, and the base model every API object uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel


class Precision(StrEnum):
    """Numeric format of weights (or of the KV cache)."""

    BF16 = "bf16"
    FP8 = "fp8"
    FP4 = "fp4"


class ApiModel(BaseModel):
    """Base for API objects: camelCase on the wire, snake_case in Python, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )


DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?$"


def to_decimal(value: Any) -> Decimal:
    # Kubernetes API conventions avoid floats in specs, so money, ratios and rates are decimal
    # strings; plain YAML integers are accepted too (int-or-string), as for resource quantities.
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a decimal number such as 40 or '2.5', not a boolean")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # Floats reach us from JSON/YAML written by hand ("2.5" unquoted); keep their shortest repr.
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"expected a decimal number such as '2.5', got {value!r}") from None
        if not result.is_finite():
            raise ValueError(f"expected a finite decimal number, got {value!r}")
        return result
    raise ValueError(f"expected a decimal number such as 40 or '2.5', got {type(value).__name__}")


def decimal_json(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


_INT_OR_STRING: dict[str, Any] = {
    "x-kubernetes-int-or-string": True,
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "pattern": DECIMAL_PATTERN,
    "maxLength": 32,
}

DecimalStr = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    PlainSerializer(decimal_json, return_type=str),
    WithJsonSchema(_INT_OR_STRING),
]
"""A non-float decimal: YAML `40` or `'2.5'`; serialised as a string."""


def _cel_bound(op: str, bound: Decimal) -> str:
    # int-or-string: CEL sees an int or a string; double() converts either.
    return f"double(self) {op} {float(bound)!r}"


def decimal_schema(
    gt: Decimal | int | None = None,
    ge: Decimal | int | None = None,
    lt: Decimal | int | None = None,
    le: Decimal | int | None = None,
    places: int | None = None,
    hint: str = "",
) -> dict[str, Any]:
    """The CRD schema of a bounded decimal: int-or-string with CEL rules for the bounds (the upper bound's
    message says what to do instead, `hint`), and at most `places` decimal places."""
    rules = []
    bounds = ((">", gt, "greater than"), (">=", ge, "at least"), ("<", lt, "less than"), ("<=", le, "at most"))
    for op, bound, word in bounds:
        if bound is not None:
            upper = op.startswith("<")
            message = f"must be {word} {_plain(Decimal(bound))}" + (f"; {hint}" if hint and upper else "")
            rules.append({"rule": _cel_bound(op, Decimal(bound)), "message": message})
    schema: dict[str, Any] = {**_INT_OR_STRING, "x-kubernetes-validations": rules}
    if places is not None:
        # Digits before the point are bounded by `le` (CEL); after it, by the pattern.
        schema["pattern"] = rf"^[0-9]+(\.[0-9]{{1,{places}}})?$"
    return schema


def _plain(value: Decimal) -> str:
    return f"{value:,f}" if value == value.to_integral() else str(value)


def _check_bounds(
    gt: Decimal | int | None, ge: Decimal | int | None, le: Decimal | int, places: int, hint: str
) -> Callable[[Decimal], Decimal]:
    # The same words as the CRD's CEL messages, so the CLI and kubectl say the same thing.
    def check(value: Decimal) -> Decimal:
        if gt is not None and not value > gt:
            raise ValueError(f"must be greater than {_plain(Decimal(gt))}")
        if ge is not None and not value >= ge:
            raise ValueError(f"must be at least {_plain(Decimal(ge))}")
        if value > le:
            raise ValueError(f"must be at most {_plain(Decimal(le))}" + (f"; {hint}" if hint else ""))
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            raise ValueError(f"must have at most {places} decimal places")
        return value

    return check


@dataclass(frozen=True)
class Bounded(GroupedMetadata):
    """`Annotated[Decimal, Bounded(gt=0, le=1000, places=6)]`: a decimal with a lower bound, an upper bound
    and a resolution, enforced alike by the CRD schema (CEL, pattern) and by pydantic (CLI, operator).
    Every number a tenant writes has one, so the planner's input space is bounded and its cost with it."""

    le: Decimal | int
    places: int
    gt: Decimal | int | None = None
    ge: Decimal | int | None = None
    hint: str = ""

    def __iter__(self) -> Iterator[Any]:
        yield BeforeValidator(to_decimal)
        yield AfterValidator(_check_bounds(self.gt, self.ge, self.le, self.places, self.hint))
        yield PlainSerializer(decimal_json, return_type=str)
        yield WithJsonSchema(decimal_schema(gt=self.gt, ge=self.ge, le=self.le, places=self.places, hint=self.hint))


PositiveDecimal = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    Field(gt=0),
    PlainSerializer(decimal_json, return_type=str),
    WithJsonSchema(decimal_schema(gt=0)),
]
"""A decimal above zero (rates, prices, budgets)."""

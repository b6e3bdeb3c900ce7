"""Shared field types: precisions, decimal strings, and the base model every API object uses."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema
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
) -> dict[str, Any]:
    """The CRD schema of a bounded decimal: int-or-string with CEL rules for the bounds."""
    rules = []
    for op, bound, word in ((">", gt, "greater than"), (">=", ge, "at least"), ("<", lt, "less than")):
        if bound is not None:
            rules.append({"rule": _cel_bound(op, Decimal(bound)), "message": f"must be {word} {bound}"})
    return {**_INT_OR_STRING, "x-kubernetes-validations": rules}


PositiveDecimal = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    Field(gt=0),
    PlainSerializer(decimal_json, return_type=str),
    WithJsonSchema(decimal_schema(gt=0)),
]
"""A decimal above zero (rates, prices, budgets)."""

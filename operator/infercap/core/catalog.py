"""The catalog of models, accelerators and efficiency factors: built-ins from the package's data
files, merged with cluster or command-line overrides."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from typing import Any

import yaml

from infercap.api.catalog import AcceleratorProfileSpec, Efficiency, ModelProfileSpec, Price, SliceShape
from infercap.api.types import Precision
from infercap.core.compute import ChipRates, Replica, chip_rates
from infercap.core.errors import PlanError, unknown_id
from infercap.core.kernels import KernelCurves, parse_kernels
from infercap.core.shape import ModelShape, model_shape

_REPLICA_CACHE = 4096


@dataclass(frozen=True)
class FamilyEfficiency:
    """Efficiency factors of one accelerator family and whether they were fitted to measurements."""

    efficiency: Efficiency
    calibrated: bool
    borrowed_from: str | None = None


@dataclass(frozen=True)
class Catalog:
    """Models, accelerators and per-family efficiencies, by id. Immutable; overrides make a new one."""

    models: Mapping[str, ModelProfileSpec]
    accelerators: Mapping[str, AcceleratorProfileSpec]
    families: Mapping[str, FamilyEfficiency]
    overridden: frozenset[str] = field(default_factory=frozenset)
    # Measured kernel curves by accelerator id (kernels.yaml); used where the family factors apply.
    kernels: Mapping[str, KernelCurves] = field(default_factory=dict)
    # Replica models are pure functions of (shape, accelerator, chips) within one catalog: cache them
    # for the operator's periodic re-plans and the autoscaler's replays.
    _replicas: dict[tuple[ModelShape, str, int], Replica] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    _rates: dict[tuple[ModelShape, str], tuple[AcceleratorProfileSpec, ChipRates]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    _sizes: dict[str, tuple[AcceleratorProfileSpec, list[tuple[int, SliceShape | None]]]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    _shapes: dict[tuple[str, Precision | None, Precision | None], tuple[ModelProfileSpec, ModelShape]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def model(self, model_id: str, field_path: str = "spec.model") -> ModelProfileSpec:
        try:
            return self.models[model_id]
        except KeyError:
            raise unknown_id("model", model_id, self.models, field_path, "UnknownModel") from None

    def accelerator(self, acc_id: str, field_path: str = "spec.accelerators") -> AcceleratorProfileSpec:
        try:
            return self.accelerators[acc_id]
        except KeyError:
            raise unknown_id("accelerator", acc_id, self.accelerators, field_path, "UnknownAccelerator") from None

    def efficiency(self, acc: AcceleratorProfileSpec) -> FamilyEfficiency:
        """The accelerator's own factors if its profile sets them, else its family's."""
        if acc.efficiency is not None:
            return FamilyEfficiency(acc.efficiency, calibrated=False)
        try:
            return self.families[acc.family]
        except KeyError:
            # A profile may name a family we have never seen: borrow a conservative known one
            # rather than refuse to plan, and say so through source=analytic.
            base = self.families["hopper"]
            return FamilyEfficiency(base.efficiency, calibrated=False, borrowed_from="hopper")

    def kernel_curves(self, acc: AcceleratorProfileSpec) -> KernelCurves | None:
        """Measured kernel curves of this accelerator, unless its profile brings its own factors."""
        return None if acc.efficiency is not None else self.kernels.get(acc.id)

    def shape(
        self,
        model: ModelProfileSpec,
        precision: Precision | None = None,
        kv_precision: Precision | None = None,
    ) -> ModelShape:
        """The model's shape at these precisions, one object per combination."""
        key = (model.id, precision, kv_precision)
        cached = self._shapes.get(key)
        if cached is None or cached[0] is not model:
            cached = self._shapes[key] = (model, model_shape(model, precision, kv_precision))
        return cached[1]

    def replica_sizes(self, acc: AcceleratorProfileSpec) -> list[tuple[int, SliceShape | None]]:
        """Replica sizes (chips, TPU slice) the accelerator offers; see planner.replica_sizes."""
        cached = self._sizes.get(acc.id)
        if cached is None or cached[0] is not acc:
            from infercap.core.sizes import replica_sizes

            cached = self._sizes[acc.id] = (acc, replica_sizes(acc))
        return cached[1]

    def replica(self, shape: ModelShape, acc: AcceleratorProfileSpec, chips: int) -> Replica:
        key = (shape, acc.id, chips)
        cached = self._replicas.get(key)
        if cached is None or cached.acc is not acc:
            if len(self._replicas) > _REPLICA_CACHE:
                self._replicas.clear()
            eff, kernels = self.efficiency(acc).efficiency, self.kernel_curves(acc)
            # The replica sizes of one accelerator share what a chip achieves for the shape.
            rates = self._rates.get((shape, acc.id))
            if rates is None or rates[0] is not acc:
                if len(self._rates) > _REPLICA_CACHE:
                    self._rates.clear()
                rates = self._rates[(shape, acc.id)] = (acc, chip_rates(shape, acc, eff, kernels))
            cached = self._replicas[key] = Replica(shape, acc, eff, chips, kernels, rates[1])
        return cached

    def with_overrides(
        self,
        models: Iterable[ModelProfileSpec] = (),
        accelerators: Iterable[AcceleratorProfileSpec] = (),
    ) -> Catalog:
        """A catalog where these entries add to or replace the built-ins with the same id."""
        new_models = dict(self.models)
        new_accs = dict(self.accelerators)
        touched = set(self.overridden)
        for m in models:
            new_models[m.id] = m
            touched.add(f"model/{m.id}")
        for a in accelerators:
            new_accs[a.id] = a
            touched.add(f"accelerator/{a.id}")
        return Catalog(new_models, new_accs, self.families, frozenset(touched), self.kernels)

    def with_prices(self, prices: Mapping[str, Decimal], source: str) -> Catalog:
        """A catalog with these per-chip-hour prices (accelerator id -> price)."""
        accs = []
        for acc_id, value in prices.items():
            acc = self.accelerator(acc_id, "price")
            if value <= 0:
                raise PlanError("InvalidPrice", f"price for {acc_id} must be positive, got {value}", "price")
            price = Price(per_chip_hour=value, currency=acc.price.currency, source=source, date="")
            accs.append(acc.model_copy(update={"price": price}))
        return self.with_overrides(accelerators=accs)


def parse_families(doc: Mapping[str, Any]) -> dict[str, FamilyEfficiency]:
    """Parse efficiency.yaml: families with factors, and families that borrow another's (`like`)."""
    raw: Mapping[str, Mapping[str, Any]] = doc["families"]
    out: dict[str, FamilyEfficiency] = {}
    for name, entry in raw.items():
        if "like" not in entry:
            factors = {k: v for k, v in entry.items() if k != "calibrated"}
            out[name] = FamilyEfficiency(Efficiency.model_validate(factors), bool(entry.get("calibrated")))
    for name, entry in raw.items():
        if "like" in entry:
            base = out[entry["like"]]
            out[name] = FamilyEfficiency(base.efficiency, calibrated=False, borrowed_from=entry["like"])
    return out


def parse_catalog(
    models: list[Any],
    accelerators: list[Any],
    families: Mapping[str, Any],
    kernels: Mapping[str, Any] | None = None,
) -> Catalog:
    """Validate raw documents (as loaded from YAML) into a Catalog; ids must be unique."""
    ms = [ModelProfileSpec.model_validate(m) for m in models]
    accs = [AcceleratorProfileSpec.model_validate(a) for a in accelerators]
    for kind, ids in (("model", [m.id for m in ms]), ("accelerator", [a.id for a in accs])):
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate {kind} ids in catalog: {sorted(dupes)}")
    curves = parse_kernels(kernels)
    return Catalog({m.id: m for m in ms}, {a.id: a for a in accs}, parse_families(families), frozenset(), curves)


@functools.cache
def builtin_catalog() -> Catalog:
    """The catalog shipped in the package (infercap/data/*.yaml), parsed once."""
    data = resources.files("infercap") / "data"

    def load(name: str) -> Any:
        return yaml.safe_load((data / name).read_text(encoding="utf-8"))

    return parse_catalog(load("models.yaml"), load("accelerators.yaml"), load("efficiency.yaml"), load("kernels.yaml"))

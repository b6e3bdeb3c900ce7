"""Reads infercap manifests (ModelDeployment, ModelProfile, AcceleratorProfile, CapacityPolicy) from
parsed YAML documents, with errors that name the document and the field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from infercap.api import API_VERSION
from infercap.api.catalog import AcceleratorProfileSpec, ModelProfileSpec
from infercap.api.deployment import ModelDeployment
from infercap.api.policy import CapacityPolicySpec
from infercap.api.validation import describe


class ManifestError(ValueError):
    """A document that is not a valid infercap manifest; the message is one line."""


@dataclass
class Manifests:
    deployments: list[ModelDeployment] = field(default_factory=list)
    models: list[ModelProfileSpec] = field(default_factory=list)
    accelerators: list[AcceleratorProfileSpec] = field(default_factory=list)
    # CapacityPolicy documents as written (validated): the admission check takes the objects themselves.
    policies: list[dict[str, Any]] = field(default_factory=list)


KINDS = ("ModelDeployment", "ModelProfile", "AcceleratorProfile", "CapacityPolicy")


def profile_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """A profile object's spec with its id taken from metadata.name (the id the cluster uses)."""
    name = (doc.get("metadata") or {}).get("name")
    spec = dict(doc.get("spec") or {})
    if "id" in spec and spec["id"] != name:
        raise ManifestError(f"spec.id {spec['id']!r} differs from metadata.name {name!r}; drop spec.id")
    spec["id"] = name
    return spec


def parse_documents(docs: list[Any], source: str) -> Manifests:
    """Validate every document; the first invalid one raises ManifestError naming it."""
    out = Manifests()
    for i, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        where = f"{source}: document {i}"
        if not isinstance(doc, dict):
            raise ManifestError(f"{where}: expected a mapping with apiVersion, kind, metadata and spec")
        kind = doc.get("kind")
        name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
        if name:
            where = f"{source}: {kind}/{name}"
        if doc.get("apiVersion") != API_VERSION:
            raise ManifestError(f"{where}: apiVersion must be {API_VERSION}, got {doc.get('apiVersion')!r}")
        if kind not in KINDS:
            raise ManifestError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not name:
            raise ManifestError(f"{where}: metadata.name is required")
        try:
            if kind == "ModelDeployment":
                out.deployments.append(ModelDeployment.model_validate(doc))
            elif kind == "ModelProfile":
                out.models.append(ModelProfileSpec.model_validate(profile_spec(doc)))
            elif kind == "CapacityPolicy":
                CapacityPolicySpec.model_validate(doc.get("spec") or {})
                out.policies.append(doc)
            else:
                out.accelerators.append(AcceleratorProfileSpec.model_validate(profile_spec(doc)))
        except ValidationError as e:
            prefix = "" if kind == "ModelDeployment" else "spec"
            raise ManifestError(f"{where}: {describe(e, prefix)}") from None
    return out

"""Generates infercap's CustomResourceDefinitions from the pydantic models.

`python -m infercap.api.crd [OUT_DIR ...]` writes crds/*.yaml (and any other directories given, such as
the chart's crds/). The pydantic JSON schema is turned into a Kubernetes structural OpenAPI v3 schema:
$refs inlined, optionals unwrapped, open objects marked x-kubernetes-preserve-unknown-fields, JSON
Schema 2020 exclusive bounds turned into OpenAPI 3.0 ones, titles and defaults dropped.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from infercap.api import GROUP, VERSION
from infercap.api.catalog import AcceleratorProfileSpec, ModelProfileSpec
from infercap.api.deployment import ModelDeploymentSpec
from infercap.api.policy import CapacityPolicySpec
from infercap.api.status import ModelDeploymentStatus

_KEEP = {
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "description",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "format",
    "anyOf",
    "additionalProperties",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "nullable",
}


def structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """One pydantic JSON-schema node as a structural OpenAPI v3 node."""
    if "$ref" in schema:
        target = defs[schema["$ref"].split("/")[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return structural(merged, defs)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        merged = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
        return structural(merged, defs)
    if "anyOf" in schema and not schema.get("x-kubernetes-int-or-string"):
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return structural({**branches[0], **rest}, defs)
        raise ValueError(f"union types are not structural: {schema}")
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out["properties"] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = structural(value, defs)
        elif key == "additionalProperties":
            if value is True or value == {}:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out["additionalProperties"] = structural(value, defs)
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "anyOf":
            out["anyOf"] = [{k: v for k, v in b.items() if k in ("type",)} for b in value]
        elif key in _KEEP:
            out[key] = value
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("format") not in (None, "int32", "int64", "date-time", "double"):
        del out["format"]
    return out


def schema_of(model: type[BaseModel], exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    for name in exclude:
        raw["properties"].pop(name, None)
        if name in raw.get("required", []):
            raw["required"].remove(name)
    return structural(raw, defs)


def _crd(
    kind: str,
    plural: str,
    scope: str,
    spec_schema: dict[str, Any],
    description: str,
    status_schema: dict[str, Any] | None = None,
    short: list[str] | None = None,
    columns: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "apiVersion": {"type": "string", "description": "API version: infercap.dev/v1alpha1."},
        "kind": {"type": "string", "description": f"Kind: {kind}."},
        "metadata": {"type": "object"},
        "spec": spec_schema,
    }
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {"type": "object", "description": description, "required": ["spec"], "properties": props}
        },
    }
    if status_schema is not None:
        props["status"] = status_schema
        version["subresources"] = {"status": {}}
    if columns:
        version["additionalPrinterColumns"] = columns
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "categories": ["infercap"],
    }
    if short:
        names["shortNames"] = short
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/name": "infercap"}},
        "spec": {"group": GROUP, "names": names, "scope": scope, "versions": [version]},
    }


def _col(name: str, path: str, type_: str = "string", priority: int = 0, description: str = "") -> dict[str, Any]:
    col: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        col["priority"] = priority
    if description:
        col["description"] = description
    return col


def _serving_rules(spec: dict[str, Any]) -> None:
    """CEL for spec.serving and spec.scaleTargetRef, so the API server rejects what pydantic would."""
    spec.setdefault("x-kubernetes-validations", []).append(
        {
            "rule": "!(has(self.serving) && has(self.scaleTargetRef))",
            "message": "set spec.serving or spec.scaleTargetRef, not both",
        }
    )
    model = spec["properties"]["serving"]["properties"]["model"]
    model["x-kubernetes-validations"] = [
        {
            "rule": "(has(self.huggingFace) ? 1 : 0) + (has(self.uri) ? 1 : 0) + (has(self.pvc) ? 1 : 0) == 1",
            "message": "spec.serving.model: set exactly one of huggingFace, uri or pvc",
        }
    ]
    env = spec["properties"]["serving"]["properties"]["env"]["items"]
    env["x-kubernetes-validations"] = [
        {
            "rule": "has(self.secretName) == has(self.secretKey) && !(has(self.value) && has(self.secretName))",
            "message": "spec.serving.env[]: set value, or secretName with secretKey",
        }
    ]


def _schedule_rules(schedule: dict[str, Any]) -> None:
    """spec.autoscaling.schedule: each day once per window, each name once (as pydantic refuses)."""
    schedule["items"]["properties"]["days"]["x-kubernetes-list-type"] = "set"
    schedule["x-kubernetes-validations"] = [
        {
            "rule": "self.all(w, !has(w.name) || self.exists_one(v, has(v.name) && v.name == w.name))",
            "message": "schedule names a window twice; give each window its own name",
        }
    ]


def model_deployment_crd() -> dict[str, Any]:
    spec = schema_of(ModelDeploymentSpec)
    spec["description"] = ModelDeploymentSpec.__doc__
    traffic = spec["properties"]["traffic"]
    traffic["x-kubernetes-validations"] = [
        {
            "rule": "has(self.requestsPerSecond) != has(self.outputTokensPerSecond)",
            "message": "set exactly one of requestsPerSecond or outputTokensPerSecond",
        }
    ]
    spec["properties"]["accelerators"]["x-kubernetes-list-type"] = "set"
    spec["properties"]["autoscaling"]["x-kubernetes-validations"] = [
        {
            # minReplicas may be absent (the CRD carries no defaults): then it is 1, as in the model.
            "rule": "!has(self.maxReplicas) || self.maxReplicas >= (has(self.minReplicas) ? self.minReplicas : 1)",
            "message": "maxReplicas must be at least minReplicas",
        }
    ]
    prometheus = spec["properties"]["autoscaling"]["properties"]["metric"]["properties"]["prometheus"]
    prometheus["x-kubernetes-validations"] = [
        {"rule": "has(self.source) != has(self.url)", "message": "set exactly one of source or url"}
    ]
    sli = spec["properties"]["autoscaling"]["properties"]["sli"]
    sli["x-kubernetes-validations"] = [
        {
            "rule": "!has(self.prometheus) || !(has(self.engine) || has(self.selector))",
            "message": "engine and selector apply to the engine's histograms; with prometheus, write the matchers "
            "into its queries",
        }
    ]
    _schedule_rules(spec["properties"]["autoscaling"]["properties"]["schedule"])
    spec["properties"]["kvCachePrecision"]["enum"] = ["bf16", "fp8"]
    _serving_rules(spec)
    status = schema_of(ModelDeploymentStatus)
    status["description"] = ModelDeploymentStatus.__doc__
    columns = [
        _col("Model", ".spec.model"),
        _col("Accelerator", ".status.plan.accelerator"),
        _col("Replicas", ".status.plan.replicas", "integer"),
        _col("Nodes", ".status.plan.nodes", "integer"),
        _col("Nodes-Ready", ".status.observed.nodesReady", "integer", description="Nodes that exist and are Ready"),
        _col("Cost/Month", ".status.cost.monthlyDisplay", description="Monthly cost of the applied plan"),
        _col("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        _col("Age", ".metadata.creationTimestamp", "date"),
        _col("Traffic", ".status.demand.display", priority=1),
        _col(
            "$/MTok",
            ".status.cost.perMillionOutputTokens",
            priority=1,
            description="Cost per million output tokens at the planned load",
        ),
        _col(
            "Source", ".status.plan.source", priority=1, description="analytic, calibrated, kernel-measured or measured"
        ),
        _col("Serving", '.status.conditions[?(@.type=="Serving")].status', priority=1),
        _col(
            "Prediction-Error",
            ".status.observed.calibration.predictionError",
            priority=1,
            description="Observed / predicted step time - 1 (spec.calibration)",
        ),
    ]
    return _crd(
        "ModelDeployment",
        "modeldeployments",
        "Namespaced",
        spec,
        "A model and its traffic; infercap plans accelerators, nodes and cost, and reconciles node pools and quotas.",
        status,
        ["mdep"],
        columns,
    )


def model_profile_crd() -> dict[str, Any]:
    spec = schema_of(ModelProfileSpec, exclude=("id",))
    spec["description"] = "A model for the catalog; metadata.name is its id (adds to or replaces a built-in)."
    return _crd(
        "ModelProfile",
        "modelprofiles",
        "Cluster",
        spec,
        "Adds a model to infercap's catalog or overrides a built-in one with the same name.",
        columns=[
            _col("Total B", ".spec.totalParamsB", "number"),
            _col("Active B", ".spec.activeParamsB", "number"),
            _col("Precision", ".spec.nativePrecision"),
            _col("Context", ".spec.maxContextTokens", "integer"),
            _col("Age", ".metadata.creationTimestamp", "date"),
        ],
    )


def accelerator_profile_crd() -> dict[str, Any]:
    spec = schema_of(AcceleratorProfileSpec, exclude=("id",))
    spec["description"] = (
        "An accelerator for the catalog; metadata.name is its id (adds to or replaces a "
        "built-in, e.g. with a negotiated price)."
    )
    return _crd(
        "AcceleratorProfile",
        "acceleratorprofiles",
        "Cluster",
        spec,
        "Adds an accelerator to infercap's catalog or overrides a built-in one (a negotiated price, a "
        "measured efficiency).",
        columns=[
            _col("Memory GiB", ".spec.memoryGiB", "number"),
            _col("TB/s", ".spec.memoryBandwidthTBps", "number"),
            _col("Price/Chip-Hour", ".spec.price.perChipHour"),
            _col("Age", ".metadata.creationTimestamp", "date"),
        ],
    )


def capacity_policy_crd() -> dict[str, Any]:
    spec = schema_of(CapacityPolicySpec)
    spec["description"] = CapacityPolicySpec.__doc__
    return _crd(
        "CapacityPolicy",
        "capacitypolicies",
        "Cluster",
        spec,
        "The cluster admin's ceilings on chips, nodes and cost per ModelDeployment and per namespace, and the "
        "node-pool targets the namespaces may use. Where several apply, the lowest ceiling wins.",
        short=["cappol"],
        columns=[
            _col("Namespaces", ".spec.namespaces"),
            _col("Max Chips/NS", ".spec.limits.perNamespace.maxChips", "integer"),
            _col("Max Cost/NS", ".spec.limits.perNamespace.maxMonthlyCost"),
            _col("Age", ".metadata.creationTimestamp", "date"),
        ],
    )


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD."""
    return {
        f"{GROUP}_modeldeployments.yaml": model_deployment_crd(),
        f"{GROUP}_modelprofiles.yaml": model_profile_crd(),
        f"{GROUP}_acceleratorprofiles.yaml": accelerator_profile_crd(),
        f"{GROUP}_capacitypolicies.yaml": capacity_policy_crd(),
    }


HEADER = "# Generated from the pydantic models in operator/infercap/api by `make crds`. Do not edit.\n"


class _NoAliases(yaml.SafeDumper):
    """Writes a schema used twice in full (kubectl explain and readers do not follow YAML anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(crd: dict[str, Any]) -> str:
    return HEADER + yaml.dump(crd, Dumper=_NoAliases, sort_keys=False, width=120, allow_unicode=True)


def main(argv: list[str]) -> int:
    outs = [Path(p) for p in argv[1:]] or [Path("crds")]
    for out in outs:
        out.mkdir(parents=True, exist_ok=True)
        for name, crd in all_crds().items():
            (out / name).write_text(render(crd), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

"""Architecture rules (DESIGN.md section 2), checked on the source's import statements:

- layers import only lower layers: api < core < (kube | providers | metrics | calibration | config)
  < workloads < reconcile < handlers < cli;
- core is pure: no clock, environment, logging, processes or network;
- only kube/ talks to the API server (lightkube, kubernetes); only handlers import kopf;
- operator/ is a source root, never a package (it would shadow the standard library's `operator`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "operator"
PKG = SRC / "infercap"

LAYERS = {
    "api": 0,
    "core": 1,
    "kube": 2,
    "providers": 2,
    "metrics": 2,
    "calibration": 2,
    "traces": 2,
    "workloads": 3,
    "reconcile": 4,
    "config": 2,
    "demand": 2,
    "handlers": 5,
    "cli": 6,
    "__main__": 7,
    "__init__": 0,
}
IMPURE = {"os", "time", "datetime", "logging", "random", "subprocess", "socket", "threading", "asyncio"}
CLUSTER_CLIENTS = {"lightkube", "kubernetes", "kubernetes_asyncio"}


def modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def unit_of(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def test_every_unit_has_a_layer() -> None:
    assert {unit_of(p) for p in modules()} <= set(LAYERS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_respect_layers(path: Path) -> None:
    me = unit_of(path)
    for name in imports(path):
        parts = name.split(".")
        if parts[0] != "infercap" or len(parts) < 2:
            continue
        other = parts[1]
        if other in (me, "__init__"):
            continue
        assert LAYERS[other] < LAYERS[me], f"{path.relative_to(SRC)} ({me}) imports {name} ({other})"


@pytest.mark.parametrize(
    "path", [p for p in modules() if unit_of(p) in ("core", "api")], ids=lambda p: str(p.relative_to(SRC))
)
def test_core_and_api_are_pure(path: Path) -> None:
    for name in imports(path):
        root = name.split(".")[0]
        assert root not in IMPURE, f"{path.relative_to(SRC)} imports {name}: core/api take values, not the world"
        assert root not in CLUSTER_CLIENTS | {"kopf", "prometheus_client"}


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_only_kube_talks_to_the_cluster_and_only_handlers_use_kopf(path: Path) -> None:
    me = unit_of(path)
    for name in imports(path):
        root = name.split(".")[0]
        if root in CLUSTER_CLIENTS:
            assert me == "kube", f"{path.relative_to(SRC)} imports {name}"
        if root == "kopf":
            assert me == "handlers", f"{path.relative_to(SRC)} imports kopf"


def test_operator_dir_is_not_a_package() -> None:
    assert not (SRC / "__init__.py").exists(), "operator/__init__.py would shadow the stdlib 'operator' module"
    import operator

    assert hasattr(operator, "itemgetter"), "the standard library's operator module is the one imported"

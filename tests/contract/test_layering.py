"""Architecture rules (DESIGN.md section 2), enforced by import-linter's contracts in pyproject.toml:

- layers import only lower layers: api < core < (kube | providers | metrics | calibration | config | ...)
  < reconcile < handlers < cli < __main__;
- the node-pool providers do not import each other;
- only handlers import kopf; only kube/ imports the API client;
- core and api are pure: no clock, environment, logging, processes or network.

These tests run the real contracts on the real tree, then on copies of the tree with one forbidden
import planted, to prove each contract can fail. What import-linter cannot express stays here: operator/
is a source root, never a package (it would shadow the standard library's `operator`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "operator"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(src: Path, cwd: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Runs import-linter with the project's contracts (all, or those named) over `infercap` under `src`."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    only = [arg for c in contracts for arg in ("--contract", c)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *only, str(ROOT / "pyproject.toml")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(SRC, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


PLANTED = [
    # (module that gets the import, the line, the contract that must break)
    ("core/planner.py", "from infercap import handlers", "layers"),
    ("core/planner.py", "import infercap.reconcile", "layers"),
    ("api/types.py", "from infercap.core import planner", "layers"),
    ("providers/quota.py", "from infercap.reconcile import status", "layers"),
    ("providers/gke.py", "from infercap.providers import karpenter", "providers-independent"),
    ("reconcile/status.py", "import kopf", "kopf-only-in-handlers"),
    ("providers/karpenter.py", "import lightkube", "cluster-client-only-in-kube"),
    ("core/compute.py", "import time", "core-pure"),
    ("core/sizes.py", "from os import environ", "core-pure"),
    ("core/schedule.py", "import time", "core-pure"),
    ("api/status.py", "import logging", "core-pure"),
]


@pytest.mark.parametrize(("module", "line", "contract"), PLANTED, ids=[f"{m}:{c}" for m, _, c in PLANTED])
def test_a_planted_import_breaks_its_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    src = tmp_path / "src"
    shutil.copytree(SRC / "infercap", src / "infercap", ignore=shutil.ignore_patterns("__pycache__"))
    target = src / "infercap" / module
    # After the docstring and `from __future__` (which must stay first), like any other import.
    text = target.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    assert sep, f"{module} has no `from __future__ import annotations` to anchor the planted import"
    target.write_text(head + sep + line + "  # noqa\n" + rest)
    result = lint_imports(src, tmp_path, contract)
    assert result.returncode != 0, result.stdout
    # Only the planted line differs from the tree that keeps every contract (the test above).
    assert "1 broken" in result.stdout, result.stdout


def test_operator_dir_is_not_a_package() -> None:
    assert not (SRC / "__init__.py").exists(), "operator/__init__.py would shadow the stdlib 'operator' module"
    import operator

    assert hasattr(operator, "itemgetter"), "the standard library's operator module is the one imported"

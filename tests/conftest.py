"""Shared fixtures. Cluster fixtures live in tests/e2e/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from infercap.core.catalog import Catalog, builtin_catalog

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return builtin_catalog()


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT

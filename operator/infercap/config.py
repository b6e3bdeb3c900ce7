"""Loads the operator configuration (`infercap run --config`, the chart's ConfigMap) from YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from infercap.api.config import OperatorConfig
from infercap.api.validation import describe


class ConfigError(ValueError):
    pass


def load(path: Path | None) -> OperatorConfig:
    if path is None:
        return OperatorConfig()
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config {path} is not valid YAML: {e}") from None
    try:
        return OperatorConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"config {path}: {describe(e)}") from None

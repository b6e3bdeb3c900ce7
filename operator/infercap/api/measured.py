"""Measured performance points of a model (ModelProfile `spec.measured`), as benchmark tools report them.

Written by `infercap profile import` from aiperf, GuideLLM or `vllm bench serve` output; the planner uses
them (source `measured`) where they cover a configuration.
"""

from __future__ import annotations

from pydantic import Field

from infercap.api.types import ApiModel, Precision


class MeasuredPoint(ApiModel):
    """One benchmark run at a fixed concurrency: what one replica sustained."""

    accelerator: str = Field(
        min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="Accelerator id."
    )
    chips: int = Field(ge=1, le=4096, description="Chips in the measured replica.")
    precision: Precision | None = Field(default=None, description="Weight precision served (None = native).")
    tensor_parallel: int = Field(default=1, ge=1, le=4096, description="Tensor-parallel size.")
    pipeline_parallel: int = Field(default=1, ge=1, le=512, description="Pipeline-parallel size.")
    engine: str = Field(default="", max_length=63, description="Serving engine (vllm, sglang, trtllm).")
    engine_version: str = Field(default="", max_length=63, description="Serving engine version.")
    tool: str = Field(default="", max_length=63, description="Benchmark tool and version that measured it.")
    input_tokens: float = Field(gt=0, description="Mean input tokens per request.")
    output_tokens: float = Field(gt=0, description="Mean output tokens per request.")
    concurrency: float = Field(gt=0, description="Requests in flight (the tool's concurrency).")
    output_tokens_per_second: float = Field(gt=0, description="Output tokens/s of the whole replica.")
    ttft_ms: float | None = Field(default=None, ge=0, description="Mean time to first token, ms.")
    tpot_ms: float | None = Field(default=None, ge=0, description="Mean time per output token, ms.")

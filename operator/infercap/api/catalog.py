"""Catalog entries: the shape of built-in models and accelerators, and of the cluster-scoped
ModelProfile and AcceleratorProfile objects that add to or override them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from infercap.api.measured import MeasuredPoint
from infercap.api.types import ApiModel, DecimalStr, Precision

CatalogId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
        description="Catalog id: lower-case letters, digits, '.' and '-'.",
    ),
]


class Sourced(ApiModel):
    """Where a number came from."""

    sources: list[str] = Field(
        default_factory=list,
        description="Where these figures come from: URLs or citations, with a label such as FACT, "
        "RECALLED or ESTIMATE.",
    )


# --------------------------------------------------------------------------- accelerators


class Vendor(StrEnum):
    NVIDIA = "nvidia"
    AMD = "amd"
    GOOGLE = "google"
    AWS = "aws"


class Price(ApiModel):
    """A price per chip-hour, with where it came from."""

    per_chip_hour: DecimalStr = Field(description="On-demand price of one accelerator chip for one hour.")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.")
    source: str = Field(default="", description="Where the price comes from (offering, region, catalog).")
    date: str = Field(default="", description="When the price was read (YYYY-MM).")


class NodeShape(ApiModel):
    """One kind of node (VM) that carries this accelerator."""

    chips: int = Field(ge=1, le=1024, description="Accelerator chips on one node.")
    instance_types: dict[str, str] = Field(
        default_factory=dict,
        description="Instance or machine type of such a node per cloud: keys aws, gcp, azure.",
    )


class SliceShape(ApiModel):
    """A TPU slice: the unit a replica is placed on (chips connected by ICI)."""

    topology: str = Field(pattern=r"^[0-9]+(x[0-9]+){1,2}$", description="TPU topology, e.g. 2x4 or 2x2x2.")
    chips: int = Field(ge=1, le=16384, description="Chips in the slice (the product of the topology).")
    chips_per_host: int = Field(ge=1, le=8, description="Chips on each host VM of the slice.")
    machine_type: str = Field(description="GKE machine type of the hosts, e.g. ct6e-standard-4t.")

    @model_validator(mode="after")
    def _chips_match_topology(self) -> SliceShape:
        product = 1
        for part in self.topology.split("x"):
            product *= int(part)
        if product != self.chips:
            raise ValueError(f"topology {self.topology} has {product} chips, not {self.chips}")
        if self.chips % self.chips_per_host and self.chips > self.chips_per_host:
            raise ValueError(f"{self.chips} chips do not split into hosts of {self.chips_per_host}")
        return self


class Efficiency(ApiModel):
    """How close real serving engines get to the peaks; calibrated per accelerator family."""

    memory_bandwidth_utilization: float = Field(
        gt=0,
        le=1,
        description="Fraction of peak memory bandwidth that weight and KV-cache reads achieve (MBU).",
    )
    flops_utilization: float = Field(
        gt=0, le=1, description="Fraction of dense peak FLOPs that large matrix multiplications reach (MFU)."
    )
    gemm_half_tiles: float = Field(
        ge=0,
        description="Output tiles (128 x 128) of one matmul launch at which it reaches half of that "
        "utilization: narrow per-chip matrices (high tensor parallelism) and experts that see few "
        "tokens leave the chip's cores idle.",
    )
    step_overhead_us_per_layer: float = Field(
        ge=0, description="Fixed cost per layer and decode step (kernel launches, scheduling), microseconds."
    )
    attention_us_per_sequence_layer: float = Field(
        default=0.0,
        ge=0,
        description="Fixed cost of decode attention per running sequence and layer on each chip (kernel "
        "blocks, page-table walks), µs; it does not shrink with tensor parallelism.",
    )
    max_batch: int = Field(ge=1, description="Largest decode batch a serving engine runs on one replica.")
    max_tokens_per_step: int = Field(
        ge=1, description="Largest number of tokens (decode + chunked prefill) an engine runs in one step."
    )
    runtime_reserve_gib: float = Field(
        alias="runtimeReserveGiB",
        ge=0,
        description="Memory per chip the runtime keeps for itself (activations, graphs, buffers), GiB.",
    )
    kv_cache_fraction: float = Field(
        gt=0, le=1, description="Share of the memory left after weights and reserve that holds KV cache."
    )
    comm_latency_us: float = Field(ge=0, description="Latency of one collective on the scale-up fabric, µs.")
    comm_bandwidth_utilization: float = Field(
        default=0.8, gt=0, le=1, description="Fraction of link bandwidth that collectives achieve."
    )
    comm_overlap: float = Field(
        ge=0, le=1, description="Fraction of communication hidden behind computation (0 = none)."
    )


class AcceleratorProfileSpec(Sourced):
    """An accelerator: memory, bandwidth, FLOPs, interconnect, how Kubernetes selects it, and its price."""

    id: CatalogId
    display_name: str = Field(description="Human-readable name.")
    vendor: Vendor = Field(description="Who makes it: nvidia, amd, google or aws.")
    family: str = Field(
        pattern=r"^[a-z0-9-]+$",
        description="Architecture family, e.g. hopper, blackwell, cdna3, tpu; efficiencies are per family.",
    )
    memory_gib: float = Field(alias="memoryGiB", gt=0, description="Device memory (HBM or GDDR) per chip, GiB.")
    memory_bandwidth_tbps: float = Field(
        alias="memoryBandwidthTBps", gt=0, description="Peak memory bandwidth per chip, TB/s."
    )
    dense_tflops: dict[Precision, float] = Field(
        description="Dense (non-sparse) peak TFLOPs per chip by precision; a precision the chip "
        "lacks runs as weight-only quantization at the next wider precision."
    )
    scale_up_domain: int = Field(
        ge=1, description="Chips joined by the scale-up fabric (NVLink, Infinity Fabric, ICI)."
    )
    scale_up_bandwidth_gbps: float = Field(
        alias="scaleUpBandwidthGBps",
        gt=0,
        description="Scale-up bandwidth per chip, GB/s, both directions together.",
    )
    scale_out_bandwidth_gbps: float = Field(
        alias="scaleOutBandwidthGBps",
        gt=0,
        description="Network bandwidth per chip between scale-up domains, GB/s.",
    )
    node_shapes: list[NodeShape] = Field(
        default_factory=list, description="Kinds of nodes that carry the chip (GPUs); TPUs use sliceShapes."
    )
    slice_shapes: list[SliceShape] = Field(
        default_factory=list, description="TPU slice shapes a replica can use; empty for GPUs."
    )
    resource_name: str = Field(
        description="Kubernetes extended resource, e.g. nvidia.com/gpu, amd.com/gpu, google.com/tpu."
    )
    node_labels: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Node labels that select the chip, per provider: karpenter, gke, clusterapi, generic.",
    )
    price: Price = Field(description="Default on-demand price; override it with an AcceleratorProfile.")
    efficiency: Efficiency | None = Field(
        default=None, description="Efficiency factors; default: the calibrated ones of the family."
    )

    @model_validator(mode="after")
    def _has_shapes(self) -> AcceleratorProfileSpec:
        if not self.node_shapes and not self.slice_shapes:
            raise ValueError("an accelerator needs nodeShapes (GPUs) or sliceShapes (TPUs)")
        if Precision.BF16 not in self.dense_tflops:
            raise ValueError("denseTflops must include bf16")
        return self


# --------------------------------------------------------------------------- models


class AttentionKind(StrEnum):
    GQA = "gqa"
    MLA = "mla"


class Mla(ApiModel):
    """Multi-head latent attention (DeepSeek, Kimi): one compressed latent per token and layer."""

    kv_lora_rank: int = Field(ge=1, description="Size of the compressed KV latent.")
    q_lora_rank: int | None = Field(default=None, ge=1, description="Size of the compressed query, if any.")
    qk_rope_head_dim: int = Field(ge=0, description="Decoupled rotary key dimension stored beside the latent.")
    qk_nope_head_dim: int = Field(ge=1, description="Per-head query/key dimension without rotary embedding.")
    v_head_dim: int = Field(ge=1, description="Per-head value dimension.")


class SlidingWindow(ApiModel):
    """Layers that attend only to a window of recent tokens (their KV cache stops growing)."""

    window: int = Field(ge=1, description="Tokens each windowed layer keeps.")
    layers: int = Field(ge=1, description="How many of the model's layers are windowed.")


class Moe(ApiModel):
    """Mixture-of-Experts structure of the feed-forward layers."""

    experts: int = Field(ge=2, description="Routed experts per MoE layer.")
    experts_per_token: int = Field(ge=1, description="Routed experts each token activates (top-k).")
    shared_experts: int = Field(default=0, ge=0, description="Always-active shared experts per MoE layer.")
    moe_layers: int = Field(ge=1, description="Layers whose feed-forward block is MoE.")
    expert_params_b: float | None = Field(
        default=None,
        gt=0,
        description="Parameters of all routed experts together, billions; default: derived from "
        "total and active parameters.",
    )

    @model_validator(mode="after")
    def _k_le_e(self) -> Moe:
        if self.experts_per_token > self.experts:
            raise ValueError("expertsPerToken cannot exceed experts")
        return self


class Architecture(ApiModel):
    """Transformer shape: what sets KV cache size, FLOPs and communication."""

    layers: int = Field(ge=1, description="Transformer layers.")
    hidden_size: int = Field(ge=1, description="Model (residual stream) width.")
    attention_heads: int = Field(ge=1, description="Query heads.")
    kv_heads: int = Field(ge=1, description="Key/value heads (GQA); ignored for MLA.")
    head_dim: int = Field(ge=1, description="Dimension of each attention head.")
    attention: AttentionKind = Field(default=AttentionKind.GQA, description="gqa (incl. MHA/MQA) or mla.")
    mla: Mla | None = Field(default=None, description="MLA dimensions; required when attention is mla.")
    sliding_window: SlidingWindow | None = Field(default=None, description="Windowed (local) layers.")
    moe: Moe | None = Field(default=None, description="MoE structure; absent for dense models.")
    vocab_size: int = Field(ge=1, description="Vocabulary size (embedding rows).")
    tied_embeddings: bool = Field(default=False, description="Input embedding and LM head share weights.")

    @model_validator(mode="after")
    def _consistent(self) -> Architecture:
        if self.attention == AttentionKind.MLA and self.mla is None:
            raise ValueError("attention mla needs the mla block")
        if self.sliding_window and self.sliding_window.layers > self.layers:
            raise ValueError("slidingWindow.layers exceeds layers")
        if self.moe and self.moe.moe_layers > self.layers:
            raise ValueError("moe.moeLayers exceeds layers")
        if self.attention == AttentionKind.GQA and self.attention_heads % self.kv_heads:
            raise ValueError("attentionHeads must be a multiple of kvHeads")
        return self


class ApiPrice(ApiModel):
    """The model vendor's API list price, to compare self-hosting against."""

    input_per_million: DecimalStr = Field(description="Price per million input tokens.")
    output_per_million: DecimalStr = Field(description="Price per million output tokens.")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.")
    source: str = Field(default="", description="Where the price comes from.")


class Range(ApiModel):
    """A published figure given as a range (low == high for a single value)."""

    low: float = Field(description="Lower end.")
    high: float = Field(description="Upper end.")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self

    @property
    def mid(self) -> float:
        return (self.low + self.high) / 2


class InstanceClaim(ApiModel):
    """A published claim of how many chips of which accelerator serve one instance."""

    accelerator: CatalogId
    chips: Range = Field(description="Chips claimed for one inference instance.")
    precision: Precision | None = Field(default=None, description="Precision the claim states, if any.")


class RatioFigure(StrEnum):
    COMPUTE_PER_INFERENCE = "computePerInference"
    COMPUTE_PER_INFERENCE_SPARSE = "computePerInferenceSparse"
    OUTPUT_SPEED = "outputSpeed"
    CONCURRENCY = "concurrency"
    TOKENS_PER_COMPUTE = "tokensPerCompute"
    COST_PER_TOKEN = "costPerToken"
    OPERATING_COST = "operatingCost"
    HARDWARE_INVESTMENT = "hardwareInvestment"


class PublishedRatio(ApiModel):
    """A ratio a source draws between this model and another: this model's figure / the other's."""

    versus: CatalogId = Field(description="The other model.")
    figure: RatioFigure = Field(description="What is compared.")
    ratio: Range = Field(description="This model's figure divided by the other's.")
    note: str = Field(default="", description="The source's wording, briefly.")


class Published(Sourced):
    """Figures as a public source states them (source `published`), kept beside the physics."""

    hardware: str = Field(default="", description="Hardware the source says serves the model.")
    accelerators: list[CatalogId] = Field(
        default_factory=list, description="Catalog ids of the hardware the source names."
    )
    total_params_b: Range | None = Field(default=None, description="Total parameters, billions.")
    active_params_b: Range | None = Field(default=None, description="Active parameters per token, billions.")
    activation_rate_percent: Range | None = Field(default=None, description="Activation rate as stated, %.")
    instance: list[InstanceClaim] = Field(default_factory=list, description="Chips per instance as claimed.")
    compute_per_inference_pflops: Range | None = Field(
        default=None, description="Compute per inference (text), PFLOPs, unit as published."
    )
    compute_per_inference_sparse_pflops: Range | None = Field(
        default=None, description="Compute per inference for pure text with sparse attention, PFLOPs."
    )
    compute_per_inference_multimodal_pflops: Range | None = Field(
        default=None, description="Compute per inference with images or video, PFLOPs."
    )
    output_tokens_per_second: float | None = Field(default=None, description="Output speed per stream.")
    max_context_tokens: int | None = Field(default=None, description="Maximum context (input) tokens.")
    max_output_tokens: int | None = Field(default=None, description="Maximum output tokens.")
    comparisons: list[PublishedRatio] = Field(
        default_factory=list, description="Ratios the source draws against other models."
    )
    notes: list[str] = Field(default_factory=list, description="Other statements of the source.")


class ModelProfileSpec(Sourced):
    """A model: parameters, architecture, native precision, context limits and API price."""

    id: CatalogId
    display_name: str = Field(description="Human-readable name.")
    total_params_b: float = Field(gt=0, description="Total parameters, billions.")
    active_params_b: float = Field(gt=0, description="Parameters active per token, billions (= total if dense).")
    architecture: Architecture
    native_precision: Precision = Field(description="Precision the weights ship in.")
    native_expert_precision: Precision | None = Field(
        default=None, description="Precision of routed-expert weights if it differs (gpt-oss: fp4)."
    )
    max_context_tokens: int = Field(ge=1, description="Longest context (input + output) the model takes.")
    max_output_tokens: int | None = Field(default=None, ge=1, description="Longest output, if limited apart.")
    api_price: ApiPrice | None = Field(default=None, description="Vendor API price, when the model has one.")
    estimated: bool = Field(
        default=False, description="True when the architecture is an estimate, not a published config."
    )
    published: Published | None = Field(default=None, description="A public source's figures, kept apart.")
    measured: list[MeasuredPoint] = Field(
        default_factory=list,
        max_length=512,
        description="Benchmark runs of this model (infercap profile import); used where they cover a plan.",
    )

    @model_validator(mode="after")
    def _params(self) -> ModelProfileSpec:
        if self.active_params_b > self.total_params_b * 1.0001:
            raise ValueError("activeParamsB cannot exceed totalParamsB")
        if self.architecture.moe is None and abs(self.active_params_b - self.total_params_b) > 1e-6:
            raise ValueError("a dense model (no moe block) has activeParamsB == totalParamsB")
        return self

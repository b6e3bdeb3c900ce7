"""spec.serving (the model-server workload infercap runs on the planned nodes), spec.scaleTargetRef (a
workload the user runs that infercap only scales) and spec.capacity (how node pools hold capacity)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from infercap.api.types import ApiModel

# Pinned default images; spec.serving.image overrides them. Pinned by tag so a rollout never changes the
# engine under a running fleet; update them together with the engine flags in infercap.workloads.engines.
DEFAULT_IMAGES = {
    "vllm": "vllm/vllm-openai:v0.11.0",
    "sglang": "lmsysorg/sglang:v0.5.4",
    "trtllm": "nvcr.io/nvidia/tensorrt-llm/release:1.0.0",
}


class Engine(StrEnum):
    VLLM = "vllm"
    SGLANG = "sglang"
    TRTLLM = "trtllm"


# Accelerator vendors each engine runs on (catalog `vendor`): vLLM has CUDA, ROCm, TPU and Neuron
# backends, SGLang CUDA and ROCm, TensorRT-LLM NVIDIA only. The planner considers only these.
ENGINE_VENDORS = {
    "vllm": frozenset({"nvidia", "amd", "google", "aws"}),
    "sglang": frozenset({"nvidia", "amd"}),
    "trtllm": frozenset({"nvidia"}),
}


class PvcSource(ApiModel):
    """Weights on a PersistentVolumeClaim in the ModelDeployment's namespace, mounted read-only."""

    claim_name: str = Field(min_length=1, max_length=253, description="Name of the PersistentVolumeClaim.")
    path: str = Field(
        default="",
        max_length=1024,
        pattern=r"^[^\s]*$",
        description="Directory of the weights inside the volume (default: the volume's root).",
    )


class ModelSource(ApiModel):
    """Where the engine loads the weights from: exactly one of huggingFace, uri or pvc."""

    hugging_face: str | None = Field(
        default=None,
        max_length=256,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$",
        description="Hugging Face model id, e.g. meta-llama/Llama-3.1-8B-Instruct (a token goes in env as "
        "HF_TOKEN from a Secret).",
    )
    uri: str | None = Field(
        default=None,
        max_length=2048,
        pattern=r"^[a-z0-9+.-]+://[^\s]+$",
        description="A URI the engine loads itself, e.g. s3://bucket/llama or gs://bucket/llama.",
    )
    pvc: PvcSource | None = Field(default=None, description="A PersistentVolumeClaim holding the weights.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelSource:
        if sum(x is not None for x in (self.hugging_face, self.uri, self.pvc)) != 1:
            raise ValueError("set exactly one of huggingFace, uri or pvc")
        return self


class EnvVar(ApiModel):
    """An environment variable of the engine container; a value, or a key of a Secret."""

    name: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Name.")
    value: str | None = Field(default=None, max_length=32768, description="Literal value.")
    secret_name: str | None = Field(default=None, max_length=253, description="Secret holding the value.")
    secret_key: str | None = Field(default=None, max_length=253, description="Key in that Secret.")

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        secret = self.secret_name is not None or self.secret_key is not None
        if secret and (self.secret_name is None or self.secret_key is None):
            raise ValueError("secretName and secretKey go together")
        if secret and self.value is not None:
            raise ValueError("set value or secretName/secretKey, not both")
        return self


class Serving(ApiModel):
    """The model server infercap runs on the planned nodes. Parallelism, batch, context length, KV-cache
    dtype, quantization and memory fraction come from the plan; never set them in args."""

    engine: Engine = Field(default=Engine.VLLM, description="Serving engine: vllm, sglang or trtllm.")
    image: str | None = Field(
        default=None,
        max_length=512,
        pattern=r"^[^\s]+$",
        description="Container image; default: a pinned release of the engine.",
    )
    model: ModelSource = Field(description="Where the weights come from.")
    args: list[str] = Field(
        default_factory=list, max_length=64, description="Extra engine arguments, appended after infercap's."
    )
    env: list[EnvVar] = Field(default_factory=list, max_length=64, description="Extra environment variables.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port the engine serves HTTP on.")
    model_load_seconds: int = Field(
        default=1800,
        ge=60,
        le=21_600,
        description="How long the startup probe waits for the weights to load before the container restarts.",
    )

    @property
    def resolved_image(self) -> str:
        return self.image or DEFAULT_IMAGES[self.engine.value]


class ScaleTargetRef(ApiModel):
    """A workload the user runs (any kind with a scale subresource); infercap sets only its replicas."""

    api_version: str = Field(
        min_length=1,
        max_length=253,
        description="API version of the target, e.g. apps/v1 or serving.kserve.io/v1beta1.",
    )
    kind: str = Field(min_length=1, max_length=63, pattern=r"^[A-Z][A-Za-z0-9]*$", description="Kind, e.g. Deployment.")
    name: str = Field(min_length=1, max_length=253, description="Name, in the ModelDeployment's namespace.")


class CapacityMode(StrEnum):
    DYNAMIC = "dynamic"
    STATIC = "static"


class Capacity(ApiModel):
    """How the node pool holds the planned nodes."""

    mode: CapacityMode | None = Field(
        default=None,
        description="dynamic: the pool's limits cap the nodes and pending pods make them (Karpenter's "
        "default); static: the pool keeps the planned nodes warm before any pod asks (Karpenter "
        "spec.replicas, feature gate StaticCapacity). Default: the operator's karpenter.capacityMode.",
    )

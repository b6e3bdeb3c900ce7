"""infercap: model-aware inference capacity planning and reconciliation for Kubernetes."""

__version__ = "0.1.0"

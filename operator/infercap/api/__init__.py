"""Pydantic models of infercap's API objects: the single definition the CLI parses and the CRDs come from."""

GROUP = "infercap.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

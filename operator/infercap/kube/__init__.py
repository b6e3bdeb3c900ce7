"""The only part of infercap that talks to the Kubernetes API server (lightkube, server-side apply)."""

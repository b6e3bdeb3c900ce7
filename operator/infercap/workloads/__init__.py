"""The serving workload: pure renderers from a plan and spec.serving to the Deployment or
LeaderWorkerSet, Service and PodDisruptionBudget infercap applies (engine flags in `engines`)."""

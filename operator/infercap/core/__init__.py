"""Pure planning core: catalog, compute model, planner, cost, comparison, autoscaling policy.

No I/O beyond reading the package's own data files, no clock, no environment: values in, values out.
It is what `infercap plan` and the operator share.
"""

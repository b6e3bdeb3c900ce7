"""The `infercap` command line: plan, estimate, compare, catalog, simulate and run the operator."""

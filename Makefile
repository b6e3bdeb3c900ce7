# infercap developer commands. `make demo` runs the main job; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv test lint typecheck unit cluster-bin bench bench-accuracy calibrate demo demo-down clean crds chart-readme

help:
	@echo "make demo       local control plane + operator + examples, then kubectl get mdep"
	@echo "make test       lint, type-check and every test (builds the control plane on first run)"
	@echo "make bench      planner benchmark (prints figures)"
	@echo "make bench-accuracy  infercap vs AIConfigurator on the public rows (installs the accuracy extra)"
	@echo "make calibrate  refit efficiency factors against data/calibration*.csv, with cross-validation"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check operator tests hack
	$(BIN)/ruff format --check operator tests hack
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/contract

# The cluster binaries (control plane, kube-scheduler, kwok, Karpenter) are built here, before pytest, so a
# cold build (about 20 minutes on two idle cores, far more on a loaded machine) is not under the cluster
# fixture's start-up timeout; cached by version in ~/.cache/infercap, a warm run takes milliseconds.
cluster-bin:
	hack/build-bin.sh >/dev/null
	hack/build-sim-bin.sh >/dev/null

test: lint typecheck cluster-bin
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python tests/bench/bench_plan.py
	$(BIN)/python tests/bench/bench_simulate.py
	$(BIN)/python tests/bench/bench_synthetic.py
	$(BIN)/python tests/bench/bench_peak_terms.py

bench-accuracy: $(STAMP)
	$(BIN)/pip install --quiet -e '.[accuracy]'
	$(BIN)/python hack/bench_accuracy.py

calibrate: $(STAMP)
	$(BIN)/python hack/calibrate.py --cv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

crds: $(STAMP)
	$(BIN)/python -m infercap.api.crd crds charts/infercap/files/crds

demo: $(STAMP)
	VENV=$(VENV) hack/demo.sh

demo-down:
	VENV=$(VENV) hack/demo.sh down

chart-readme: $(STAMP)
	hack/chart-readme.sh

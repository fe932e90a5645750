# Every target sets up .venv itself when it is missing: a fresh clone needs only Python 3.11 and pip.
PYTHON ?= python3
VENV   ?= .venv
# The CPU build of torch that lies on this machine's disk; override for another build:
#   make run TORCH='torch==2.13.0'
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The runtime alone (make run): no test, lint or notebook tools.
RUNTIME := $(VENV)/.installed-runtime
# The main job: grid, random and Bayesian search for SimpleCNN on digits, then the report.
RUN_DIR ?= runs/main

.PHONY: help setup run test lint format typecheck check bench gpu-check data postgres slurm slurm-packages clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml | $(BIN)/python
	@# Keep an importable torch; otherwise take the CPU build first so no dependency pulls a CUDA one.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project with its dev extras

run: $(RUNTIME)  ## the main job: 3 strategies x 64 rounds on digits, then the report
	$(BIN)/harness -m experiment=main hydra.sweep.dir=$(RUN_DIR)
	$(BIN)/harness-report $(RUN_DIR) --out $(RUN_DIR)/report

test: $(STAMP)  ## run the whole test suite
	$(BIN)/python -m pytest -q

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check harness hydra_plugins tests bench
	$(BIN)/ruff format --check harness hydra_plugins tests bench

format: $(STAMP)  ## apply ruff's formatting and fixes
	$(BIN)/ruff format harness hydra_plugins tests bench
	$(BIN)/ruff check --fix harness hydra_plugins tests bench

typecheck: $(STAMP)  ## mypy over the package
	$(BIN)/mypy

check: lint typecheck test  ## everything CI cares about

bench: $(STAMP)  ## the benchmark suite: writes BENCHMARKS.md (about 13 minutes on 2 cores)
	$(BIN)/python bench/suite.py --out BENCHMARKS.md

gpu-check: $(RUNTIME)  ## on a machine with one NVIDIA GPU: meters against NVML's counter, 2 GPU studies (about 3 min)
	$(BIN)/python bench/gpu_check.py --out studies/gpu_check

data:  ## install real Fashion-MNIST from Debian's dataset-fashion-mnist (needs apt and root)
	apt-get update && apt-get install -y dataset-fashion-mnist

postgres:  ## install Debian's PostgreSQL server (needs apt and root): the workers' PostgreSQL test uses it
	apt-get update && apt-get install -y --no-install-recommends postgresql

slurm:  ## install Debian's SLURM (with munge, slurmdbd, MariaDB) and start a one-node cluster (root)
	which slurmctld slurmdbd munged mariadbd >/dev/null || (apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm slurmdbd munge mariadb-server)
	$(PYTHON) -m tests.slurm_cluster start

slurm-packages:  ## install Debian's SLURM packages only (the tests start their own cluster)
	which slurmctld slurmdbd munged mariadbd >/dev/null || (apt-get update && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm slurmdbd munge mariadb-server)

clean:  ## remove the venv and run outputs
	rm -rf $(VENV) runs outputs multirun

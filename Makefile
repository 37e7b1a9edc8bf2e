# migrata — two commands: `make demo` and `make test`. `make dev` serves the Dagster UI.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export DAGSTER_HOME := $(CURDIR)/.migrata/dagster

.PHONY: demo test dev lint bench manifests clean

# The environment: created when missing, reinstalled only when the dependency files change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

manifests: $(STAMP)
	@$(BIN)/python -m python_ops.dbt_project
	@mkdir -p $(DAGSTER_HOME) && cp dagster_defs/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

demo: manifests
	$(BIN)/migrata demo

test: manifests
	$(BIN)/ruff check .
	$(BIN)/pytest

dev: manifests
	$(BIN)/python scripts/dev.py

bench: manifests
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	-$(BIN)/migrata engines down
	rm -rf target logs .migrata

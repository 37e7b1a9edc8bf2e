# migrata — two commands: `make demo` and `make test`. `make dev` serves the Dagster UI.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export DAGSTER_HOME := $(CURDIR)/.migrata/dagster

.PHONY: demo test dev ui-check deploy deploy-down lint bench clean

# The environment: created when missing, reinstalled only when the dependency files change.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m migrata_samples.demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

dev: $(STAMP)
	$(BIN)/python scripts/dev.py

# `make dev` driven through GraphQL on a fresh home: the current month materialized, a failing gate
# blamed on its check and month, downstream not rebuilt (minutes; not part of `make test`).
ui-check: $(STAMP)
	$(BIN)/python scripts/ui_check.py

# Code server, webserver and daemon as three processes, Dagster's state on Postgres (docs/deploy.md).
deploy: $(STAMP)
	$(BIN)/python scripts/deploy_local.py up

deploy-down: $(STAMP)
	$(BIN)/python scripts/deploy_local.py down

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	-$(BIN)/python scripts/deploy_local.py down
	-$(BIN)/migrata engines down
	rm -rf .migrata

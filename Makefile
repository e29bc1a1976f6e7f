# CBSI-Connect platform. `make help` lists the targets.
# Each target creates the virtualenv and installs what it needs on a fresh machine.

PYTHON ?= python3
VENV   ?= .venv
STACK  ?= prod
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help plan test lint typecheck unit bench deps clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

deps: ## Install the Debian packages the tests use (needs root; scripts/debian-packages.txt)
	@scripts/install-debian-packages

plan: $(STAMP) ## Plan a stack offline (STACK=prod by default; STACK=dev to change)
	$(BIN)/cbsi plan --stack $(STACK)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy over infra/ and cbsi/
	$(BIN)/mypy

unit: $(STAMP) ## The test suite only
	$(BIN)/pytest -n 2 --dist loadfile -q

test: $(STAMP) deps lint typecheck unit ## Lint, types and every test

bench: $(STAMP) ## Benchmarks (print their figures; not timed tests)
	$(BIN)/python bench/plan.py

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

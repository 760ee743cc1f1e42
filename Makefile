# Every command a developer runs. `make run` and `make test` are the two README commands; each
# installs what it needs first (a virtualenv from PyPI, chain and compiler binaries from npm).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
# CI runs the longer fuzz and invariant campaigns of foundry.toml's `ci` profile.
FOUNDRY_PROFILE ?= $(if $(CI),ci,default)
export FOUNDRY_PROFILE

.PHONY: setup browser run test test-contracts test-python lint fmt bench gas bench-indexer bench-api bench-holdings clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@echo "Installing the Python environment in $(VENV) (first run: a few minutes)..."
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "Installing the chain and compiler binaries from npm..."
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/registry up

test: test-contracts test-python

test-contracts: setup
	$(FORGE) test

test-python: setup browser
	$(BIN)/pytest

# The explorer's browser tests drive Debian's chromium (Playwright cannot download a browser
# here). As root, as CI runs, install it when missing; otherwise those tests skip with the
# reason (and fail under CI).
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi

lint: setup
	$(BIN)/ruff check node indexer api sdk tests scripts
	$(BIN)/ruff format --check node indexer api sdk tests scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(FORGE) fmt --check

fmt: setup
	$(BIN)/ruff check --fix node indexer api sdk tests scripts
	$(BIN)/ruff format node indexer api sdk tests scripts
	$(FORGE) fmt

bench: gas bench-indexer bench-api bench-holdings

# Gas table of the README: registry operations against an OpenZeppelin ERC-20 in one forge run.
gas: setup
	$(FORGE) test --match-path 'contracts/test/gas/**' -vv

# Indexer benchmark of the README: backfill against raw eth_getLogs, and steady-state lag.
bench-indexer: setup
	$(BIN)/python -m scripts.bench_indexer

# API benchmark of the README: signed writes and holdings reads against baselines in one run.
bench-api: setup
	$(BIN)/python -m scripts.bench_api

# Holdings page latency at 10, 100 and 10,000 blocks held, SQLite and PostgreSQL.
bench-holdings: setup
	$(BIN)/python -m scripts.bench_holdings

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache

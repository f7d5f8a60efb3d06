# Everyday entry points. Every target that needs Python creates .venv first (only Python 3.11 and
# make are required on the machine).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BACKTEST_DATA_ROOT ?= $(CURDIR)/data
export DBT_PROFILES_DIR := $(CURDIR)
DEMO_DIR := $(BACKTEST_DATA_ROOT)/demo_market

.PHONY: setup demo run discover-edges test test-fast check-hygiene bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job: `backtest run` on the embedded demo market (ingest, dbt build, export, report,
# manifest); pass a real source with e.g. `.venv/bin/backtest run --source https://data.binance.vision ...`.
run: $(STAMP)
	$(BIN)/backtest run --data-root $(BACKTEST_DATA_ROOT)

demo: run

# Phase 1 + phase 2 + bridge + backtest on the existing warehouse, then export and report.
discover-edges: $(STAMP)
	$(BIN)/backtest discover-edges --data-root $(BACKTEST_DATA_ROOT)

check-hygiene: $(STAMP)
	$(BIN)/python -m ingest.pit_lint

test: $(STAMP) check-hygiene
	$(BIN)/pytest -q

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m ingest.bench

clean:
	rm -rf $(VENV) target logs

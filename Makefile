# Two commands on a fresh clone: `make tutorial` and `make test`.
# Both create .venv when it is missing (or pyproject.toml changed) and are safe to re-run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Ports of the local cloud and the Fractals app for `make tutorial` and `make lab`, e.g.
# `make lab CLOUD_PORT=8090 FRACTALS_PORT=8091` (default: 8080, or the cloud's last port; 8081)
CLOUD_PORT    ?=
FRACTALS_PORT ?=
PORTS = $(if $(CLOUD_PORT),--port $(CLOUD_PORT)) $(if $(FRACTALS_PORT),--fractals-port $(FRACTALS_PORT))

.DEFAULT_GOAL := help
.PHONY: help setup tutorial test lint lab notebooks docs bench clean

help:
	@echo "make tutorial   set up, start the local cloud and Fractals app, run the tutorial, report"
	@echo "make test       set up, then lint and run the whole test suite"
	@echo "make lab        start the local cloud and Fractals app, then JupyterLab on build/lab/"
	@echo "                (working copies of notebooks/); ports: CLOUD_PORT=N FRACTALS_PORT=N"
	@echo "make notebooks  regenerate notebooks/ from samples/ and the narrative"
	@echo "make docs       build the HTML guide into build/html/"
	@echo "make bench      run the benchmarks in bench/"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

setup: $(STAMP)

tutorial: setup
	$(BIN)/python -m firstapp tutorial --via-make $(PORTS)

lint: setup
	$(BIN)/ruff check .

test: setup lint docs
	$(BIN)/python -m pytest

lab: setup
	$(BIN)/python -m firstapp lab --via-make $(PORTS) -- $(LAB_ARGS)

notebooks: setup
	$(BIN)/python -m firstapp.notebooks.build

docs: setup
	$(BIN)/sphinx-build -W -n --keep-going -q -b html . build/html

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build .pytest_cache

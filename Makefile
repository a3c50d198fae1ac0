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
.PHONY: help setup tutorial test lint lab notebooks docs bench browser ceph keystone clean

help:
	@echo "make tutorial   set up, start the local cloud and Fractals app, run the tutorial, report"
	@echo "make test       set up, then lint, build the guide and run the test suite"
	@echo "make lab        start the local cloud and Fractals app, then JupyterLab on build/lab/"
	@echo "                (working copies of notebooks/); ports: CLOUD_PORT=N FRACTALS_PORT=N"
	@echo "make notebooks  regenerate notebooks/ from samples/ and the narrative"
	@echo "make docs       build the HTML guide into build/html/"
	@echo "make bench      run the benchmarks in bench/"
	@echo "make browser    install headless Chromium and chromedriver (Debian packages, apt-get)"
	@echo "                for the real-browser tests in tests/browser/"
	@echo "make ceph       install Ceph (Debian packages, apt-get) for \`firstapp cloud start --backend ceph\`"
	@echo "make keystone   create .venv-keystone, Keystone's own virtualenv for"
	@echo "                \`firstapp cloud start --auth keystone\` (else made on first use)"

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

# the tests read the guide that `make docs` just built (tests/conftest.py: guide_html), on
# pytest-xdist workers, a test file per worker (so the notebooks, run once per session for
# tests/notebooks/test_notebooks.py, run on one worker only): one more worker than cores,
# since tests also wait (for a timeout, a restart, Ceph) and the spare worker fills those
# waits (2 cores: 7.0 min with 2 workers, 5.7-6.0 with 3, 6.2 with 4; on 2026-12-05, 4.5 min
# with 3, 4.65 with 4: docs/benchmarks.md); TEST_WORKERS=N sets it.
# The workers take the files in collection order, the longest first (tests/conftest.py:
# LONGEST_FIRST), not xdist's default of the files with the most tests first
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
test: setup lint docs
	FIRSTAPP_GUIDE_HTML=$(CURDIR)/build/html $(BIN)/python -m pytest -n $(TEST_WORKERS) \
	  --dist loadfile --no-loadscope-reorder

lab: setup
	$(BIN)/python -m firstapp lab --via-make $(PORTS) -- $(LAB_ARGS)

notebooks: setup
	$(BIN)/python -m firstapp.notebooks.build

docs: setup
	$(BIN)/sphinx-build -W -n --keep-going -q -b html . build/html

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Debian's chromium and chromium-driver for the real-browser tests (tests/browser/); apt-get
# needs root, so it runs through sudo for anyone else
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v apt-get >/dev/null || { echo "make browser installs Debian's chromium and" \
	  "chromium-driver with apt-get; elsewhere install Chromium and chromedriver yourself"; exit 1; }
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "chromium and chromedriver are installed"; \
	else \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    chromium chromium-driver; \
	fi

# Debian's Ceph (monitor, OSD, RADOS Gateway, command-line tools) for the Ceph backend
# (`firstapp cloud start --backend ceph`); nothing runs as a system service
CEPH_PACKAGES = ceph-mon ceph-osd radosgw ceph-common
ceph:
	@command -v apt-get >/dev/null || { echo "make ceph installs Debian's $(CEPH_PACKAGES)" \
	  "with apt-get; elsewhere install Ceph 16 or newer yourself"; exit 1; }
	@if dpkg-query -W -f='$${Status}\n' $(CEPH_PACKAGES) 2>/dev/null | \
	    grep -qv '^install ok installed$$' || \
	    [ "$$(dpkg-query -W -f='$${Status}\n' $(CEPH_PACKAGES) 2>/dev/null | wc -l)" != 4 ]; then \
	  $(SUDO) apt-get update && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	    $(CEPH_PACKAGES); \
	else \
	  echo "Ceph is installed ($(CEPH_PACKAGES))"; \
	fi
# Keystone 30 from PyPI in a virtualenv of its own (firstapp/cloud/keystone_venv.py)
keystone: setup
	$(BIN)/python -m firstapp.cloud.keystone_venv

clean:
	rm -rf build .pytest_cache

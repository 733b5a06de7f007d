# Two commands for a fresh machine (see README.md):
#   make book   set up, run the figure notebooks at the paper preset (stored results are reused), build the HTML
#   make test   set up, run the test suite (unit tests, notebook hygiene, smoke runs, fingerprints, book build)
# Other targets: setup, test-fast (the tests not marked slow), smoke, recompute, fingerprints, benchmark, lint, clean.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PRESET ?= paper
NOTEBOOKS ?=

# Data folder: $$LRC_DATA_DIR when set; else a shared/data folder beside the checkout when there is one
# (how machines without internet carry the offline copies); else lrc_utils's default, ~/.cache/lrc/data.
ifeq ($(LRC_DATA_DIR),)
  ifneq ($(wildcard ../shared/data),)
    export LRC_DATA_DIR := $(abspath ../shared/data)
  endif
endif

.PHONY: setup book test test-fast smoke recompute fingerprints benchmark lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -c "import torch, torchvision, lrc_utils; print('environment ready: torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

setup: $(STAMP)

book: setup
	@echo "[lrc] data folder: $${LRC_DATA_DIR:-~/.cache/lrc/data (default)}"
	$(PY) -m lrc_utils.runner --preset $(PRESET) $(NOTEBOOKS)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

recompute: setup
	$(PY) -m lrc_utils.runner --preset $(PRESET) --recompute $(NOTEBOOKS)

smoke: setup
	$(PY) -m lrc_utils.runner --preset smoke $(NOTEBOOKS)

test: setup
	@echo "[lrc] data folder: $${LRC_DATA_DIR:-~/.cache/lrc/data (default)}"
	$(PY) -m pytest -v -rs

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

fingerprints: setup
	$(PY) -m lrc_utils.fingerprint $(NOTEBOOKS)

benchmark: setup
	$(PY) benchmarks/local_rank.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build executed

# Two commands for a fresh machine (see README.md):
#   make book   set up, run the figure notebooks at the paper preset (stored results are reused), build the HTML
#   make test   set up, run the test suite (unit tests, notebook hygiene, smoke runs, book build with -W)
# Other targets: setup, smoke, recompute, benchmark, lint, clean.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PRESET ?= paper
NOTEBOOKS ?=

.PHONY: setup book test smoke recompute benchmark lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -c "import torch, torchvision, lrc_utils; print('environment ready: torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

setup: $(STAMP)

book: setup
	$(PY) -m lrc_utils.pipeline --preset $(PRESET) $(NOTEBOOKS)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

recompute: setup
	$(PY) -m lrc_utils.pipeline --preset $(PRESET) --recompute $(NOTEBOOKS)

smoke: setup
	$(PY) -m lrc_utils.pipeline --preset smoke $(NOTEBOOKS)

test: setup
	$(PY) -m pytest -v -rs

benchmark: setup
	$(PY) benchmarks/local_rank.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build executed results/smoke

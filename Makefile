# Two commands for a fresh machine (see README.md):
#   make book   set up, run the figure notebooks at the paper preset (stored results are reused), build the HTML
#   make test   set up, run the test suite (unit tests, notebook hygiene, smoke runs, fingerprints, book build,
#               the book in a real browser)
# Other targets: setup, lock (rewrite requirements.lock), mathjax, test-fast (the tests not marked slow), browser-test, smoke, recompute,
# fingerprints, benchmark, lint, clean.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PRESET ?= paper
NOTEBOOKS ?=
# Extra runner flags for make book, e.g. BOOK_FLAGS=--cached-only (fail rather than compute a missing table).
BOOK_FLAGS ?=

# Data folder: $$LRC_DATA_DIR when set; else a shared/data folder beside the checkout when there is one
# (how machines without internet carry the offline copies); else lrc_utils's default, ~/.cache/lrc/data.
ifeq ($(LRC_DATA_DIR),)
  ifneq ($(wildcard ../shared/data),)
    export LRC_DATA_DIR := $(abspath ../shared/data)
  endif
endif

# MathJax ships with the book (formulas render without internet, also in a downloaded copy): the npm registry
# package, unpacked into book/_static/mathjax (not committed), which _config.yml's mathjax_path points to.
MATHJAX_VERSION := 3.2.2
MATHJAX_DIR := book/_static/mathjax
MATHJAX_STAMP := $(MATHJAX_DIR)/.installed-$(MATHJAX_VERSION)

.PHONY: setup lock mathjax book test test-fast browser-test smoke recompute fingerprints benchmark lint clean

# The environment is requirements.lock (every package at an exact version; `make lock` rewrites it from
# pyproject.toml's ranges, .[book,cluster,dev]); lrc_utils itself is installed editable on top, without dependencies of its own.
$(STAMP): requirements.lock pyproject.toml
	@locked=$$(sed -n 's/.*Python \([0-9]*\.[0-9]*\).*/\1/p' requirements.lock | head -1); \
	  here=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  [ "$$locked" = "$$here" ] || { echo "[lrc] requirements.lock is for Python $$locked, $(PYTHON) is $$here: \
	  run make PYTHON=python$$locked, or install with pip install -e '.[book,cluster,dev]' (ranges; the exact checks then skip)"; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	$(PY) -c "import torch, torchvision, lrc_utils; print('environment ready: torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

setup: $(STAMP)

lock:
	$(PYTHON) tools/lock.py

$(MATHJAX_STAMP):
	@command -v npm >/dev/null || { echo "[lrc] npm is needed to install MathJax (Debian: apt-get install npm)"; exit 1; }
	rm -rf $(MATHJAX_DIR) && mkdir -p $(MATHJAX_DIR)
	cd $(MATHJAX_DIR) && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null \
	  && tar -xzf mathjax-$(MATHJAX_VERSION).tgz --strip-components=1 package/es5 package/LICENSE \
	  && rm mathjax-$(MATHJAX_VERSION).tgz
	touch $@

mathjax: $(MATHJAX_STAMP)

book: setup mathjax
	@echo "[lrc] data folder: $${LRC_DATA_DIR:-~/.cache/lrc/data (default)}"
	$(PY) -m lrc_utils.book.runner --preset $(PRESET) $(BOOK_FLAGS) $(NOTEBOOKS)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

recompute: setup
	$(PY) -m lrc_utils.book.runner --preset $(PRESET) --recompute $(NOTEBOOKS)

smoke: setup
	$(PY) -m lrc_utils.book.runner --preset smoke $(NOTEBOOKS)

test: setup mathjax
	@echo "[lrc] data folder: $${LRC_DATA_DIR:-~/.cache/lrc/data (default)}"
	$(PY) -m pytest -v -rs

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

browser-test: setup mathjax
	$(PY) -m pytest -v -rs tests/test_browser.py

fingerprints: setup
	$(PY) -m lrc_utils.book.fingerprint $(NOTEBOOKS)

benchmark: setup
	$(PY) benchmarks/local_rank.py

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf _build executed

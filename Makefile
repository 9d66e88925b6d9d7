# The course's commands. `make book` and `make test` set everything up on a
# fresh machine: they create .venv if it is missing and install into it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.installed
# nbgrader calls `alembic` and `jupyter` from PATH: use the environment's own.
export PATH := $(BIN):$(PATH)
# Where PyTorch comes from. Its CPU wheel index serves the CPU build (on
# Linux, PyPI's build brings gigabytes of CUDA libraries). PyPI and any index
# already configured for pip are still searched, so a machine that cannot
# reach this one installs what they offer. For the CUDA build on Linux:
# `make install TORCH_INDEX=` (PyPI's) or TORCH_INDEX=<a CUDA wheel index>.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_PIN   := $(shell grep -E '^torch==' requirements.txt)

.PHONY: help install book test test-paths release bench clean sandbox

help:
	@echo "make book        build the HTML book (chapters executed) into _build/html"
	@echo "make test        run the test suite"
	@echo "make test-paths  run every notebook and graded training part again on two other numeric paths (CI runs both)"
	@echo "make release     regenerate exercises/ from solutions/"
	@echo "make bench       print how long each chapter and solution notebook takes to run, LSTM layer speeds, and grading speed"
	@echo "make clean       remove the built book and caches"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install --no-deps $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH_PIN)"
	$(BIN)/python -m pip install -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "Book built. Open $(CURDIR)/_build/html/index.html in a browser."

# Grading runs students' notebooks in bubblewrap: install it where we can (root
# on Debian/Ubuntu); elsewhere the grading tests say why they cannot run.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1; } || \
	  echo "bubblewrap (bwrap) is not installed: the grading tests will be skipped"

test: $(STAMP) sandbox
	$(BIN)/python -m pytest -m "not paths"

# The numeric-path tests execute every chapter and solution notebook twice
# more; they would double `make test`, so they are a target of their own,
# which CI (.ci/run) runs after `make test`.
test-paths: $(STAMP)
	$(BIN)/python -m pytest -m paths

release: $(STAMP)
	$(BIN)/python -m autograder release

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/lstm_speed.py
	$(BIN)/python benchmarks/grading_speed.py

clean:
	rm -rf _build .pytest_cache

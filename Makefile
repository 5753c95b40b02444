# Every target bootstraps .venv itself: a new machine needs only python3 (3.11 or 3.12) and make.
SHELL := /bin/bash

# TensorFlow 2.16 ships wheels for CPython 3.9-3.12 and setup.cfg asks for >= 3.11: take the
# first interpreter that really runs and fits (pyenv shims can exist without a working Python).
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 12))' >/dev/null 2>&1 \
	&& { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Parallel test workers; 2 cores here.
PYTEST_WORKERS ?= 2

DEMO_DIR ?= demo_out

.PHONY: venv test demo bench clean check-python

check-python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: crocodile_tf needs CPython 3.11 or 3.12 (TensorFlow 2.16 has no wheels for other versions)."; \
	  echo "       Install one (python3.11 / python3.12 on PATH) or run: make PYTHON=/path/to/python3.11 ..."; \
	  exit 1; fi

venv: $(STAMP)

$(STAMP): setup.cfg constraints.txt pyproject.toml | check-python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.2" "setuptools>=68" wheel
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $@

test: venv
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup tests

# The main job on the embedded default: synthesize, convert, train, table, export, score.
demo: venv
	$(BIN)/python -m crocodile_tf.demo --out_dir=$(DEMO_DIR)

# Benchmarks print their figures and save JSON under bench/results/.
bench: venv
	$(BIN)/python bench/layers_bench.py
	$(BIN)/python bench/convert_bench.py
	$(BIN)/python bench/optimizer_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache $(DEMO_DIR)

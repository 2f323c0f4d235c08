# `make run`: set up .venv and run the main job; `make test`: set up .venv and run the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint setup clean system-deps

setup: $(STAMP)

# Reinstall whenever the declared dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/securitynet quickstart

# Debian's chromium and postgresql, installed when missing (browser and PostgreSQL tests).
system-deps:
	bash scripts/install-system-deps.sh

# The store tests also run against a throw-away PostgreSQL server on 127.0.0.1.
test: $(STAMP) system-deps
	bash scripts/with-test-postgres.sh $(BIN)/python -m pytest -q

# Style and the import contracts of pyproject.toml [tool.importlinter] (the layers; store and analysis torch-free).
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info

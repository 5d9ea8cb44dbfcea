# One command on a fresh machine: `make run` (the demo) or `make test` (every check CI runs).
# The virtualenv is made once; the project is reinstalled only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: install run test lint openapi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## the server with demo data (extra options: make run ARGS="--port 8001")
	$(BIN)/stamgast serve --demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy app telephony_adapters

openapi: $(STAMP)  ## regenerate the committed openapi.yaml
	$(BIN)/stamgast openapi

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy app telephony_adapters
	$(BIN)/stamgast openapi --check
	$(BIN)/pytest

# One command on a fresh machine: `make run` (the demo) or `make test` (every check CI runs).
# The virtualenv is made once; the project is reinstalled only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
ARGS ?=

.PHONY: install run test lint openapi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Running needs the package only; the test tools (browsers' drivers, vendor SDKs, linters)
# come with `make test`.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP) $(TEST_STAMP)

install: $(STAMP)

run: $(STAMP)  ## the server with demo data (extra options: make run ARGS="--port 8001")
	$(BIN)/stamgast serve --demo $(ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy app telephony_adapters

openapi: $(TEST_STAMP)  ## regenerate the committed openapi.yaml
	$(BIN)/stamgast openapi

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy app telephony_adapters
	$(BIN)/stamgast openapi --check
	$(BIN)/pytest

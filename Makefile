# Partner Gateway. Needs only Python 3.11+; everything else is installed into .venv.
#   make run    install, migrate the embedded SQLite database, load demo data, serve GraphiQL
#   make test   install, run the test suite (SQLite; PostgreSQL too when GATEWAY_TEST_POSTGRES_URL is set)

SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test install

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then echo "make: Python 3.11 or newer is needed (python3.11, python3.12, ... on PATH)" >&2; exit 1; fi
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/gateway db upgrade
	$(BIN)/gateway demo seed
	@echo
	@echo "GraphiQL: http://$(HOST):$(PORT)/graphql  (the partner_admin demo token is pre-filled; Ctrl-C stops)"
	@echo
	@GATEWAY_GRAPHIQL=1 GATEWAY_DEMO_TOKEN_PREFILL="$$($(BIN)/gateway demo token partner_admin)" \
		$(BIN)/gateway serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

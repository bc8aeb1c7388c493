# The few commands everyone types. `make run` and `make test` work on a fresh clone.

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
# Where `make run` serves; the Procfile's web process reads BIND.
BIND ?= 127.0.0.1:8000
# `make test` runs against real services; override either to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/statuspage
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

# `honcho run` loads `.env` when there is one, as `honcho start` does for the processes,
# so setup steps and processes see the same configuration.
MANAGE := $(BIN)/honcho run $(BIN)/python manage.py
export PATH := $(BIN):$(PATH)

.PHONY: run test lint fmt migrate install install-dev openapi

run: $(VENV)/.installed
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) loaddemo
	$(MANAGE) ensureadmin --url http://$(BIND)/admin/
	BIND=$(BIND) $(BIN)/honcho start -f Procfile

# `scripts/test-setup` starts PostgreSQL and Redis when they are installed but stopped, creates the database and
# installs Chromium when it is missing (or names in one line what to install). collectstatic next: tests (the
# browser ones most) serve static files from STATIC_ROOT, as production does.
test: export DATABASE_URL := $(or $(DATABASE_URL),$(TEST_DATABASE_URL))
test: export REDIS_URL := $(or $(REDIS_URL),$(TEST_REDIS_URL))
test: $(VENV)/.installed-dev
	scripts/test-setup
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/pytest
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The static checks of `make test`: ruff (lint and format); mypy with django-stubs, configured in pyproject.toml
# (strict on services and selectors; incremental, cached in .mypy_cache/); import-linter's layer contract.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate the committed OpenAPI schema after changing the API (a test fails while it is stale).
openapi: $(VENV)/.installed-dev
	$(BIN)/python manage.py spectacular --format openapi-json --validate --file docs/openapi-v1.json

migrate: $(VENV)/.installed
	$(MANAGE) migrate --noinput

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml requirements.lock | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements.lock | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@ $(VENV)/.installed

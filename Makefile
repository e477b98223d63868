# Selfheal — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: help run test setup install install-dev lint format bench reliability clean

help:
	@echo "make run    set up (venv, install, migrate, policies, demo users) and start web, workers (checks and control) and beat"
	@echo "make test   set up if needed and run the whole test suite"
	@echo "make lint   ruff and mypy"
	@echo "make bench  the engine benchmark"
	@echo "make reliability  the fault, load and hostile-input suite; writes docs/reliability.md"

$(VENV)/.installed-run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-run
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

setup: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_policies
	$(BIN)/python manage.py create_demo_users
	$(BIN)/python manage.py demo_fleet

run: setup
	@echo "Starting web (http://127.0.0.1:8000), worker and beat — Ctrl-C stops all three."
	$(BIN)/honcho start -f Procfile

test: install-dev
	$(BIN)/pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	$(BIN)/python -m selfheal.bench

# The whole reliability suite, heavy checks included: once on the embedded defaults (SQLite +
# filesystem broker), once on PostgreSQL + Redis; then the results table in docs/reliability.md.
RELIABILITY_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
RELIABILITY_REDIS_URL ?= redis://127.0.0.1:6379/13
reliability: install-dev
	rm -f var/reliability.jsonl
	-SELFHEAL_RELIABILITY_FULL=1 $(BIN)/pytest tests/reliability
	-SELFHEAL_RELIABILITY_FULL=1 SELFHEAL_REQUIRE_LIVE=1 \
	  DATABASE_URL=$(RELIABILITY_DATABASE_URL) REDIS_URL=$(RELIABILITY_REDIS_URL) \
	  $(BIN)/pytest tests/reliability
	$(BIN)/python -m tests.reliability.report

clean:
	rm -rf var staticfiles .pytest_cache .mypy_cache .ruff_cache

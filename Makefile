# Selfheal — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: help run test setup install install-dev lint format bench clean

help:
	@echo "make run    set up (venv, install, migrate, policies, demo users) and start web + worker + beat"
	@echo "make test   set up if needed and run the whole test suite"
	@echo "make lint   ruff and mypy"
	@echo "make bench  the engine benchmark"

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

clean:
	rm -rf var staticfiles .pytest_cache .mypy_cache .ruff_cache

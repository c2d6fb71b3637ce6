# Burki: `make run` serves a demo on SQLite with the sandbox telephony backend (HOST and PORT: where; default
# 127.0.0.1:8000); `make test` runs the suite. Production runs the Procfile instead (README.md, "Production").
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run install install-dev test test-postgres lint format migrate seed clean bench bench-scale bench-campaigns

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt requirements-compat.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --target $(VENV)/burki-sdk -r requirements-compat.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Development mode. A .env is written first when there is none (DEBUG on, generated secret and encryption keys,
# this run's PUBLIC_BASE_URL: `manage.py write_dev_env`), so that every command works in any shell afterwards. Then
# the web server, a worker and beat (Procfile.dev), together until Ctrl-C stops them all; every one of them sees
# this run's PUBLIC_BASE_URL (exported: the environment wins over .env), so the worker posts the sandbox's webhooks
# to this server whatever PORT says. The .env file is read by the settings, not by honcho (which would let it
# override the environment).
run: export DEBUG ?= 1
run: export PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)
# Webhook endpoints on this machine (a receiver on 127.0.0.1) are allowed here, never by default in production.
run: export WEBHOOK_ALLOW_PRIVATE_DESTINATIONS ?= 1
run: export HOST := $(HOST)
run: export PATH := $(abspath $(BIN)):$(PATH)
run: install
	$(BIN)/python manage.py write_dev_env
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py seed_demo
	$(BIN)/honcho --env /dev/null -f Procfile.dev start -p $(PORT)

migrate: export DEBUG ?= 1
migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: export DEBUG ?= 1
seed: install
	$(BIN)/python manage.py seed_demo

test: install-dev
	$(BIN)/python -m pytest

# The same suite against the PostgreSQL on 127.0.0.1 (override DATABASE_URL to point elsewhere).
test-postgres: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/burki
test-postgres: install-dev
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run -v0
	DEBUG=1 $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# What Burki adds on top of the provider, measured (bench/run.py; about 4 minutes, bounded at 5.5): gunicorn on the
# PostgreSQL at 127.0.0.1 against a fake Twilio, and call events through 2 Celery workers on the Redis at 127.0.0.1.
# Drops and recreates BENCH_DATABASE_URL's database and flushes BENCH_REDIS_URL's. BENCH_ARGS passes options
# (python -m bench.run --help), e.g. BENCH_ARGS="--strict" to fail when a target is missed.
bench: export BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/burki_bench
bench: export BENCH_REDIS_URL ?= redis://127.0.0.1:6379/15
bench: install-dev
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The call log at scale (bench/scale.py; about 5 minutes, most of it generating 1,010,000 calls with SQL): each list
# read on an organization with 10,000 calls and one with 1,000,000, alternately, with ratios. Drops and recreates
# BENCH_SCALE_DATABASE_URL's database (BENCH_SCALE_ARGS="--reuse" keeps one it filled before; "--strict" fails on a
# missed target).
bench-scale: export BENCH_SCALE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/burki_bench_scale
bench-scale: install
	$(BIN)/python -m bench.scale $(BENCH_SCALE_ARGS)

# The time to import 10,000 campaign contacts from CSV (bench/campaigns_import.py; about a minute; target under 5 s).
bench-campaigns: export BENCH_CAMPAIGNS_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/burki_bench_campaigns
bench-campaigns: install
	$(BIN)/python -m bench.campaigns_import $(BENCH_CAMPAIGNS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Two commands matter: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint format install install-dev serve screenshots bench clean prod-local

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PIP) install -q -r requirements-dev.txt
	touch $(VENV)/.runtime $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

demo: install
	DEBUG=true $(PY) manage.py migrate --noinput --verbosity 0
	DEBUG=true $(PY) manage.py seed_demo
	DEBUG=true $(PY) manage.py sync_registry
	DEBUG=true PORTAL_URL=http://$(HOST):$(PORT) $(PY) manage.py seed_demo_requests
	@echo "Registry Portal: http://$(HOST):$(PORT)/  (logins printed above by seed_demo)"
	DEBUG=true PORTAL_URL=http://$(HOST):$(PORT) $(PY) manage.py runserver $(HOST):$(PORT)

# Production-like on this machine: gunicorn + a Celery worker + beat on local PostgreSQL and Redis, DEBUG off
# (scripts/prod-local, docs/deploy.md). PROD_LOCAL_ARGS: e.g. --web-workers 4.
prod-local: install
	$(PY) scripts/prod-local --host $(HOST) --port $(PORT) $(PROD_LOCAL_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

screenshots: install-dev
	$(PY) -m pytest tests/e2e -m e2e --screenshots $(PYTEST_ARGS)

clean:
	rm -rf var/portal.sqlite3 var/mlflow var/staticfiles

# The two quick-start commands: `make demo` and `make test`. Both bootstrap .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration schemas services-up services-down clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/restguard --config deploy/local/demo.toml demo

# Lint, types, then every test: unit tests and integration tests against the real Kafka and
# Elasticsearch, which the tests start themselves (deploy/local) when they are not running.
test: lint
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -m "not integration"

integration: $(STAMP)
	$(PY) -m pytest -m integration

schemas: $(STAMP)
	$(PY) -m schemas.export

services-up: $(STAMP)
	$(VENV)/bin/restguard services up

services-down: $(STAMP)
	$(VENV)/bin/restguard services down

clean:
	rm -rf var test-artifacts .pytest_cache .mypy_cache .ruff_cache

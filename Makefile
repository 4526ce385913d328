# The README's two commands are `make run` and `make test`; both install what they need first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: run test install tools lint format typecheck check bench clean

run: install ## Start Kafka, storage, the database and every service; serve http://localhost:8000
	$(PY) -m infra.local run

test: install ## Every test, against a real Kafka broker, MinIO, SQLite and PostgreSQL
	$(PY) -m pytest

install: $(INSTALLED) tools

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

tools: ## Java 17, Maven and Go build the local Kafka and MinIO; PostgreSQL is installed on demand
	@for tool in java mvn go; do \
	  command -v $$tool >/dev/null || { echo "error: '$$tool' is required (see README: Requirements)"; exit 1; }; \
	done

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lint: install ## Formatter, linter and type checker, as CI runs them
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

check: lint test

bench: install ## Image jobs through the running pipeline vs. a plain Pillow loop
	$(PY) -m bench.images

clean: ## Remove the virtual environment (keeps .state: uploads, Kafka data, caches)
	rm -rf $(VENV)

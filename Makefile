# Handrail: `make run` starts the service, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run migrate worker test lint format bench dev

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: install  ## migrate, then serve on HOST:PORT (127.0.0.1:8000)
	$(PY) -m handrail migrate
	$(PY) -m handrail serve

migrate: install
	$(PY) -m handrail migrate

worker: install  ## a separate worker process, for scale
	$(PY) -m handrail worker

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy graph nodes tools llm guardrails handrail server.py

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install  ## figures only, never asserted: every cell of issue 12 side by side; JSON report in bench/out/
	$(PY) -m bench

dev: install  ## LangGraph Studio against `langgraph dev` (needs: pip install "langgraph-cli[inmem]")
	$(VENV)/bin/langgraph dev --no-browser --port 2024

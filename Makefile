# Handrail: `make run` starts the service, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run migrate worker test test-bare lint format bench dev eval eval-diff

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

test: install  ## every test, on TEST_DATABASE_URL/TEST_REDIS_URL, else the machine's servers, else embedded ones
	$(PY) -m pytest

# A network namespace where nothing listens, with loopback up: the suite must start its own Postgres and
# Redis, as on a fresh laptop (Linux). Root gets a plain namespace (pgserver then runs postgres as user
# `pgserver`); anyone else gets a user namespace of their own, keeping the capability to bring lo up.
test-bare: install  ## `make test` as on a bare machine: embedded Postgres and Redis, no network
	env -u TEST_DATABASE_URL -u TEST_REDIS_URL unshare $$(test "$$(id -u)" = 0 || echo --map-current-user --keep-caps) \
		-n sh -c 'ip link set lo up && exec $(PY) -m pytest $(PYTEST_ARGS)'

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy graph nodes tools llm guardrails handrail evals server.py

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install  ## figures only, never asserted: every cell of issue 12 side by side; JSON report in bench/out/
	$(PY) -m bench

eval: install  ## every case of evals/cases/ through the real service; last line `eval: P/N passed (R%)`, exit 1 under 80%
	$(PY) -m evals

eval-diff: install  ## make eval-diff A=evals/out/report-1.json B=evals/out/report-2.json: the cases whose result changed
	$(PY) -m evals diff $(A) $(B)

dev: install  ## LangGraph Studio against `langgraph dev` (needs: pip install "langgraph-cli[inmem]")
	$(VENV)/bin/langgraph dev --no-browser --port 2024

# Canopy: `make run` starts the platform on the embedded defaults; `make test` runs every tier on real infrastructure.
VENV   := .venv
BIN    := $(VENV)/bin
PYTHON ?= python3
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run infra infra-down lint test test-unit bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install Canopy with its development tools

run: install  ## start every service on the embedded defaults; API on http://127.0.0.1:8080
	$(BIN)/canopy up

infra: install  ## start Kafka, PostgreSQL, Azurite, Mosquitto and Docker Engine on 127.0.0.1
	$(BIN)/canopy infra up

infra-down: install
	$(BIN)/canopy infra down

lint: install  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install infra lint  ## every test tier on the real infrastructure
	$(BIN)/pytest tests/unit tests/functional tests/integration tests/e2e

test-unit: install
	$(BIN)/pytest tests/unit

bench: install infra  ## benchmarks, printing JSON figures
	$(BIN)/python tests/bench/bus.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

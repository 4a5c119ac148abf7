# Canopy: `make run` starts the platform on the embedded defaults; `make test` runs every tier on real infrastructure.
VENV   := .venv
BIN    := $(VENV)/bin
PYTHON ?= python3
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run infra infra-down lint test test-unit bench examples clean images compose compose-env compose-up compose-down

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

KSERVE_VENV := $(VENV)/kserve
KSERVE_STAMP := $(KSERVE_VENV)/.installed-stamp

$(KSERVE_STAMP): tests/clients/kserve-requirements.txt
	@test -x $(KSERVE_VENV)/bin/python || $(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/pip install -q --disable-pip-version-check -r tests/clients/kserve-requirements.txt
	@touch $(KSERVE_STAMP)

PORTAL_JS := services/gateway/portal/node_modules/.package-lock.json

$(PORTAL_JS): services/gateway/portal/package-lock.json
	npm ci --prefix services/gateway/portal --no-audit --no-fund

install: $(STAMP) $(PORTAL_JS) $(KSERVE_STAMP)  ## create .venv, install Canopy with its development tools, the portal's npm libraries and the KServe SDK (in .venv/kserve)

run: install  ## start every service on the embedded defaults with the demo fleet; API on http://127.0.0.1:8080
	$(BIN)/canopy infra up ferretdb
	$(BIN)/canopy up --demo

infra: install  ## start Kafka, PostgreSQL, Azurite, Mosquitto and Docker Engine on 127.0.0.1; build FerretDB
	$(BIN)/canopy infra up

infra-down: install
	$(BIN)/canopy infra down

lint: install  ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install infra lint  ## every test tier on the real infrastructure
	$(BIN)/pytest tests/unit tests/security tests/functional tests/integration tests/e2e

test-unit: install
	$(BIN)/pytest tests/unit

bench: install infra  ## benchmarks, printing JSON figures
	$(BIN)/python tests/bench/bus.py
	$(BIN)/python tests/bench/telemetry.py
	$(BIN)/python tests/bench/models_serving.py
	$(BIN)/python tests/bench/models.py
	$(BIN)/python tests/bench/idle.py
	$(BIN)/python tests/bench/sandbox.py
	$(BIN)/python tests/bench/app_database.py
	$(BIN)/python tests/bench/apps.py
	$(BIN)/python tests/bench/scheduler.py
	$(BIN)/python tests/bench/logs.py
	$(BIN)/python tests/bench/healing.py
	$(BIN)/python tests/bench/portal.py
	$(BIN)/python tests/bench/images.py --rounds 1

images: install  ## build every image locally (canopy/<name>:<commit> and :latest; no registry)
	$(BIN)/python -m bootstrap.images

compose: install  ## install Debian's docker-compose 1.29 when it is missing (apt-get, as root)
	$(BIN)/python -m bootstrap.images.compose_cli

compose-env: install compose  ## write .env for docker-compose.yml (random passwords, ports from 28000; kept if present)
	$(BIN)/python -m bootstrap.images.compose_env

compose-up: images compose compose-env  ## build the images and start the whole stack with docker-compose
	docker-compose up -d

compose-down:  ## stop the stack (volumes kept; `docker-compose down -v` drops them)
	docker-compose down

TRAIN_VENV ?= $(VENV)/train

examples: install  ## rebuild the example model packages in examples/models/ (the fan model trains with TensorFlow; legacy-weather-2022 in a Python 3.9 container)
	$(BIN)/python examples/models/sklearn-iris/train.py
	$(BIN)/python examples/models/legacy-weather/train.py
	$(BIN)/python examples/models/legacy-weather-2022/train.py
	$(BIN)/python examples/models/fan-anomaly/generate_data.py
	@test -x $(TRAIN_VENV)/bin/python || $(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q --disable-pip-version-check tensorflow-cpu
	$(TRAIN_VENV)/bin/python examples/models/fan-anomaly/train.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache services/gateway/portal/node_modules

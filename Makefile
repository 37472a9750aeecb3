# Contact Gateway: `make run` starts the demo, `make test` runs every check.
# Both create .venv and install what they need first.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test lint unit bench rabbitmq chromium openssl venv clean

# Start the gateway with the demo setup (embedded SQLite, the local RabbitMQ).
run: $(STAMP) rabbitmq
	exec $(VENV)/bin/contact-gateway --config config/demo.yaml run

# Lint, type-check, then every test (pytest's "no tests ran" counts as a failure).
test: $(STAMP) rabbitmq chromium openssl lint
	@set +e; $(PY) -m pytest -q -ra $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests - failing" >&2; exit 1; fi; \
	exit $$status

# ruff (lint and format check), mypy, and the import contracts between the layers.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The end-to-end load benchmark with the raw limits of the parts.
bench: $(STAMP) rabbitmq
	$(PY) -m bench.load $(BENCH_ARGS)

# Make sure a RabbitMQ answers (AMQP_URL, else local; started or installed when missing).
rabbitmq:
	@bash scripts/ensure-rabbitmq.sh

# Make sure Debian's Chromium is there for the browser tests.
chromium:
	@bash scripts/ensure-chromium.sh

# Make sure the openssl command is there for the STARTTLS tests' certificate.
openssl:
	@bash scripts/ensure-openssl.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@bash scripts/ensure-python.sh $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache tests/artifacts *.egg-info

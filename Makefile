# AI Admin — YClients Marketplace connector. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
SERVICES := services/gateway services/webhook-ingest services/wa-session services/activation
NODE_PACKAGES := services/wa-session/bridge emulators/whatsapp
PY_PACKAGES := . $(SERVICES) emulators/yclients-sandbox

.PHONY: help
help: ## List every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-17s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml $(wildcard services/*/pyproject.toml) emulators/yclients-sandbox/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(foreach p,$(PY_PACKAGES),-e '$(p)[dev]')
	touch $@

.PHONY: install
install: $(VENV)/.installed node ## Install Python packages (editable, into .venv) and the Node packages

.PHONY: node
node: $(foreach p,$(NODE_PACKAGES),$(p)/node_modules/.installed) ## Install the bridge's and emulator's npm packages from their lock files

%/node_modules/.installed: %/package-lock.json
	cd $* && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: system-deps
system-deps: ## Install Debian packages the tests need (chromium, wrk, caddy) if missing
	scripts/ensure-system-deps.sh

.PHONY: services-up
services-up: ## Start local PostgreSQL and RabbitMQ if they are down
	scripts/ensure-services.sh

.PHONY: migrate
migrate: $(VENV)/.installed ## Apply the database migrations (DATABASE_URL, default the local dev database)
	$(PY) -m scripts.dev_env migrate

.PHONY: run
run: install ## Run the four services locally (with the YClients sandbox and WhatsApp emulator when no YClients token is set)
	$(PY) -m scripts.run_local

.PHONY: test
test: system-deps services-up install ## Create the test environment from nothing and run every test
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-node

.PHONY: test-unit
test-unit: install ## The unit tier only: fast, no database, broker or processes
	$(PY) -m pytest -m unit -q

.PHONY: test-integration
test-integration: system-deps services-up install ## The integration tier (real PostgreSQL, RabbitMQ, processes) and the Node suites
	$(PY) -m pytest -m integration
	$(MAKE) --no-print-directory test-node

.PHONY: test-e2e
test-e2e: system-deps services-up install ## The whole system with both emulators, browser included
	$(PY) -m pytest -m e2e

.PHONY: test-node
test-node: node ## The bridge's and the WhatsApp emulator's node --test suites
	@for p in $(NODE_PACKAGES); do echo "== node tests: $$p"; (cd $$p && npm test --silent) || exit 1; done

.PHONY: lint
lint: $(VENV)/.installed ## ruff (format check + lint) and mypy
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(MAKE) --no-print-directory lint-types

.PHONY: lint-types
lint-types: $(VENV)/.installed ## mypy, strict, over every package
	$(VENV)/bin/mypy shared scripts testkit services/gateway/gateway services/webhook-ingest/webhook_ingest \
		services/wa-session/wa_session services/activation/activation emulators/yclients-sandbox/yclients_sandbox

.PHONY: fmt
fmt: $(VENV)/.installed ## Format and auto-fix with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: bench
bench: install ## Run every benchmark in bench/ and print the figures
	@for b in bench/*_bench.py; do echo "== $$b"; $(PY) -m bench.$$(basename $$b .py) || exit 1; done

.PHONY: clean
clean: ## Remove the virtualenv, node_modules and test artifacts
	rm -rf $(VENV) var $(foreach p,$(NODE_PACKAGES),$(p)/node_modules)

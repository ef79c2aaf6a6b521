# Tatawwu: every target creates or reuses .venv and installs what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)
# The demo's nation: 50,000 registered volunteers over the last 30 days, 15,186 active:
# 0.58% of the 2.6 million eligible residents of infra/population.csv, an early-stage
# platform on the way to 10% by 2030, with a month of history for the daily charts. Ready
# (infra up, seed, caught up) in 157 s on a quiet machine (benchmarks/demo_ready.py); 60,000
# took 194 s, over the 3-minute target. See "The live demo" in the README.
DEMO_VOLUNTEERS ?= 50000
DEMO_DAYS ?= 30
DEMO_TRICKLE ?= 4
DEMO_PARTNER ?= demo-direct
KAFKA_PORT := $(or $(TATAWWU_KAFKA_PORT),9092)

.PHONY: help setup system-deps up down status demo test test-fast lint format bench clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip
	@$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

system-deps: ## Install Java, Maven, PostgreSQL, kcat when missing (apt, as root)
	@bash infra/local/install-system-deps.sh

setup: system-deps $(STAMP) ## Install the system packages, create the virtualenv and install everything

up: setup ## Start Kafka and PostgreSQL, create topics, apply migrations
	@$(BIN)/tatawwu infra up

down: ## Stop the local stack
	@$(BIN)/tatawwu infra down

status: ## Show the local stack
	@$(BIN)/tatawwu infra status

demo: up ## Run the whole platform on the local defaults with seeded national activity
	@$(BIN)/tatawwu infra smoke
	@echo "Seeding $(DEMO_VOLUNTEERS) volunteers over the $(DEMO_DAYS) days to yesterday (the trickle brings today)."
	@$(BIN)/tatawwu simulate --volunteers $(DEMO_VOLUNTEERS) --days $(DEMO_DAYS) \
	  --until "$$(date -u -d yesterday +%F)" --via kafka --truth .cache/demo-truth.json
	@echo "A partner publishing straight to Kafka: $(DEMO_PARTNER) gets direct access and writes its"
	@echo "sample world to tatawwu.ingress.$(DEMO_PARTNER) over SASL_SSL (producers/examples/kafka_direct.py)."
	@$(BIN)/tatawwu partners sample $(DEMO_PARTNER) --volunteers 5 > .cache/demo-direct.jsonl
	@KAFKA_PASSWORD="$$($(BIN)/tatawwu partners add $(DEMO_PARTNER) --kafka)" TATAWWU_ORG=$(DEMO_PARTNER) \
	  KAFKA_BOOTSTRAP=127.0.0.1:$$(( $(KAFKA_PORT) + 30000 )) \
	  KAFKA_CA_FILE=.cache/kafka/p$(KAFKA_PORT)x1/tls/ca.pem \
	  $(BIN)/python producers/examples/kafka_direct.py .cache/demo-direct.jsonl
	@echo "Seeded. Starting the gateway, the router, the projectors, the read API and a live trickle"
	@echo "of $(DEMO_TRICKLE) partner facts/s through the gateway (Ctrl-C stops them all)."
	@echo "The router forwards $(DEMO_PARTNER)'s events: tatawwu partners status"
	@echo "Dashboard: http://127.0.0.1:$(or $(TATAWWU_API_PORT),8080)/   notifications: tatawwu sinks show"
	@$(BIN)/tatawwu platform run --trickle $(DEMO_TRICKLE)

lint: $(STAMP) ## ruff lint and format check (the virtualenv only, no system packages)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

test: setup ## The whole suite against the real Kafka and PostgreSQL (starts and stops them)
	@$(BIN)/ruff check .
	@$(BIN)/pytest

test-fast: $(STAMP) ## Unit tests only (the virtualenv only: no services, no system packages)
	@$(BIN)/pytest tests/unit

bench: setup ## Benchmarks, printing tables (each run as `python -m benchmarks.bench_x`)
	@for b in benchmarks/bench_*.py; do m=$$(basename $$b .py); echo "== benchmarks.$$m"; $(BIN)/python -m benchmarks.$$m || exit 1; done

format: setup
	@$(BIN)/ruff format .
	@$(BIN)/ruff check --fix .

clean: down ## Stop the stack and delete its data (jars stay cached)
	@$(BIN)/tatawwu infra down --purge

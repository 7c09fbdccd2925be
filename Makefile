# Jornada de Dados — every entry point of the course. `make course` and `make test` work on a
# fresh clone: they create the venv, install the pins, create .env and start the native stack.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYS ?= $(shell command -v python3.11 || command -v python3)
VENV       := .venv
PY         := $(VENV)/bin/python
JORNADA    := $(VENV)/bin/jornada
STAMP      := $(VENV)/.installed
OUTPUT     ?= output
PYTEST_ARGS ?= --durations=25

.PHONY: help system-deps web-assets setup env up down status doctor reset course test test-unit lab bench exercises clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON_SYS) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required (found %s)" % sys.version.split()[0]'
	test -d $(VENV) || $(PYTHON_SYS) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (jornada)" >/dev/null
	touch $(STAMP)

# Debian packages the native stack needs beyond Python: Java 17 (Kafka, Connect, Spark), Maven
# (fetches the Kafka/Debezium jars from Maven Central), kcat (a Kafka client nobody here
# wrote, used by the CDC tests and lesson 03), npm (fetches the map assets, make web-assets) and
# Chromium (headless: the map tests and screenshots, driven by Playwright from PyPI).
# Idempotent: installs only what is missing.
SYSTEM_DEPS := java:openjdk-17-jre-headless mvn:maven kcat:kcat npm:npm chromium:chromium

system-deps: ## install the missing Debian packages (Java, Maven, kcat, npm, Chromium) with apt-get
	@missing=""; for dep in $(SYSTEM_DEPS); do \
	  command -v $${dep%%:*} >/dev/null 2>&1 || missing="$$missing $${dep#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then \
	  echo "missing Debian packages:$$missing — install them as root: apt-get install -y$$missing" >&2; exit 1; \
	fi; \
	SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	echo "installing$$missing"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing

# Leaflet, jQuery, Bootstrap, Font Awesome, Awesome Markers and Leaflet.markercluster from the npm
# registry, the versions folium links from CDNs (stack/web/package.json + lock), into an ignored
# cache: jornada.maps.save_map inlines them so saved maps open with no internet. Idempotent.
WEB_DIR   := .cache/web
WEB_STAMP := $(WEB_DIR)/node_modules/.jornada-installed

web-assets: $(WEB_STAMP) ## fetch the map assets (Leaflet & co.) from npm into .cache/web

$(WEB_STAMP): stack/web/package.json stack/web/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: make system-deps" >&2; exit 1; }
	mkdir -p $(WEB_DIR)
	cp stack/web/package.json stack/web/package-lock.json $(WEB_DIR)/
	cd $(WEB_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

setup: system-deps $(STAMP) web-assets env ## create the venv, install the pins and map assets, create .env

env: $(STAMP) ## create .env from .env.example with generated secrets (never overwrites)
	@test -f .env || $(JORNADA) env

up: setup ## start the native stack (idempotent)
	$(JORNADA) stack up

down: ## stop the native stack
	@test -x $(JORNADA) && $(JORNADA) stack down || true

status: setup ## show each service, healthy or not, with its endpoint
	$(JORNADA) stack status

doctor: setup ## check Java, RAM, ports, CPU, disk
	$(JORNADA) stack doctor

reset: setup ## stop the stack and delete its data (asks first)
	$(JORNADA) stack reset

course: up ## execute every lesson headless into output/ (notebooks + summary)
	$(JORNADA) course run --output $(OUTPUT)

test: up ## every test, against the real native stack
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup ## only the unit lane: no service started, no network
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

lab: up ## copy missing exercises into workspace/ (`jornada start --all`), then JupyterLab on 127.0.0.1
	$(JORNADA) lab

bench: setup ## benchmarks on their own Postgres, JSON into output/bench.json
	@mkdir -p $(OUTPUT)
	$(JORNADA) bench --output $(OUTPUT)/bench.json

exercises: setup ## regenerate exercises/ from solutions/ (your copies in workspace/ are never touched)
	$(JORNADA) exercises generate

clean: down ## remove the venv, caches and outputs (keeps .env and .stack data)
	rm -rf $(VENV) .cache $(OUTPUT) .pytest_cache

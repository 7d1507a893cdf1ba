# The README's commands. Each builds what it needs from scratch into .venv and js/node_modules.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JS_SOURCES := $(shell find js/src -type f 2>/dev/null) js/package.json js/build.mjs
BUNDLE := rmx_widgets/static/comparison_view.js

.PHONY: install js demo lint test test-py test-js test-browser screenshots bench lab clean
, := ,

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

js/node_modules/.package-lock.json: js/package-lock.json
	cd js && npm ci --no-audit --no-fund
	touch $@

$(BUNDLE): js/node_modules/.package-lock.json $(JS_SOURCES)
	cd js && npm run build

js: $(BUNDLE)

# torch first, pinned to the CPU build on local disk; everything else from pyproject.toml.
$(STAMP): $(BIN)/python pyproject.toml $(BUNDLE)
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/python -c "from rmx_widgets.widgets.offline_bundle import install; install()"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/rmx demo --out runs/demo

# Chromium comes from Debian (never `playwright install`, which downloads a browser).
/usr/bin/chromium:
	if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi

test-py: install
	$(BIN)/python -m pytest -q -m "not browser"

test-js: $(BUNDLE)
	cd js && npm test && npm run typecheck

test-browser: install /usr/bin/chromium
	RMX_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q -m browser

# refresh the README's screenshots (docs/images) from the browser tests
screenshots: install /usr/bin/chromium
	RMX_REQUIRE_BROWSER=1 RMX_UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q -m browser \
		-k screenshots

# guardrails: lint + format check (ruff) and types (mypy, config in pyproject.toml)
LINTED := rmx_widgets tests bench hatch_build.py
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

test: install /usr/bin/chromium lint
	cd js && npm test && npm run typecheck
	RMX_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q

# benchmarks print side-by-side figures (not timed tests); QUICK=1 for a smaller workload
bench: install /usr/bin/chromium
	$(BIN)/python bench/scoring.py $(if $(QUICK),--quick,)
	$(BIN)/python bench/generation.py $(if $(QUICK),--quick,)
	$(BIN)/python bench/scaling.py $(if $(QUICK),--sizes 100$(,)1000,)
	$(BIN)/python bench/streaming.py $(if $(QUICK),--quick,--out bench/results/streaming_cpu.txt)
	$(BIN)/python bench/widgets.py
	$(BIN)/python bench/study.py $(if $(QUICK),--quick,)
	$(BIN)/python bench/null_calibration.py $(if $(QUICK),--quick,)
	$(BIN)/python bench/hostside.py $(if $(QUICK),--quick,)
	$(BIN)/python bench/pipeline.py $(if $(QUICK),--quick,--out bench/results/pipeline_cpu.txt)
	$(BIN)/python bench/ray.py $(if $(QUICK),--quick,--out bench/results/ray_cpu.txt)

lab: install
	$(BIN)/rmx lab --dir notebooks

clean:
	rm -rf $(VENV) runs build dist rmx_widgets/static js/node_modules

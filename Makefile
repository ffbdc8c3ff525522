# The front door. `make serve` and `make test` bootstrap everything they need into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# Node.js tools (Spectral), pinned in package.json and package-lock.json.
NODE_STAMP := node_modules/.installed
NODE_BIN := $(CURDIR)/node_modules/.bin
CLIENT := generated_client
# The generator's post-hooks call ruff: put the pinned one first on PATH.
GENERATE = PATH="$(BIN):$$PATH" $(BIN)/openapi-python-client generate \
	--path openapi.yaml --config openapi-python-client.yaml --meta pdm \
	--custom-template-path client-templates

# Where `make docs` writes the site (index.html), and the Redoc reference it includes.
DOCS ?= build/docs
REFERENCE := $(DOCS).reference/index.html
# Where `make client-dist` puts the client's sdist and wheel.
DIST ?= dist
# The last released spec: `make check-breaking` compares openapi.yaml with it, `make release`
# replaces it.
RELEASED_SPEC := openapi.released.yaml
# What `make typecheck` checks with mypy --strict.
TYPECHECK_PATHS := $(CLIENT)/swr_official_images_client swr_official_images tools

# pytest-xdist workers for `make test` and `make test-fast` (0: no xdist). Two per core: many
# tests spend their time waiting on a server, a process or the browser, not computing.
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')
PYTEST = $(BIN)/pytest -n $(TEST_WORKERS)
# Byte-code caching on, whatever the environment says: pytest then rewrites and compiles the
# tests and the libraries they import once, not at every run.
unexport PYTHONDONTWRITEBYTECODE

# Cases per operation for `make fuzz` (schemathesis, every check, valid and invalid data).
FUZZ_EXAMPLES ?= 5000

# Options for `make bench`, e.g. BENCH_ARGS="--records 100000 --stores sqlite", or a preset:
# make bench BENCH_ARGS='$(BENCH_QUICK)' (every part, small) or '$(BENCH_FRAMEWORKS)' (only the
# comparison with FastAPI, Starlette and Connexion). `python -m bench --help` lists every option.
BENCH_ARGS ?=
BENCH_QUICK = --records 100000 --stores sqlite --rounds 2 --duration 3 --warmup 1
BENCH_FRAMEWORKS = --parts frameworks --stores sqlite --rounds 3 --duration 5

.PHONY: help install node-tools serve migrate test test-fast fuzz bench lint typecheck check-breaking release format generate check-generated client-dist docs docs-generate bench-chart clean

help:
	@echo "make serve            run the API on 127.0.0.1:8080 (SQLite under var/, sample catalog, dev token)"
	@echo "make test             run the test suite (with a bounded schemathesis run)"
	@echo "make test-fast        the suite without the tests marked slow: the inner loop"
	@echo "make fuzz             deep schemathesis run: FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) cases per operation"
	@echo "make bench            import 1M images, lookups at 200 vs 1M, and vs FastAPI/Starlette/Connexion"
	@echo "make migrate          create or upgrade the schema of SWR_DATABASE_URL"
	@echo "make generate         regenerate $(CLIENT)/ from openapi.yaml"
	@echo "make check-generated  fail if $(CLIENT)/ differs from a fresh regeneration"
	@echo "make lint             ruff on the hand-written code, Spectral on openapi.yaml"
	@echo "make typecheck        mypy --strict on $(CLIENT)/, swr_official_images/ and tools/ (part of make lint)"
	@echo "make check-breaking   fail on a change that breaks clients of $(RELEASED_SPEC) (part of make lint)"
	@echo "make release          make openapi.yaml the released spec (after raising info.version)"
	@echo "make client-dist      build the client's sdist and wheel into $(DIST)/"
	@echo "make docs             build the documentation site into $(DOCS)/ (opens from disk, offline)"
	@echo "make docs-generate    regenerate docs/generated/ (settings, command line, metrics tables)"
	@echo "make bench-chart      draw docs/img/frameworks.svg from bench/results/latest.json"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(CLIENT)/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]' -e ./$(CLIENT)
	touch $@

# --ignore-scripts: none of the tools needs an install script (one would only send telemetry).
node-tools: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

serve: $(STAMP)
	$(BIN)/swr-official-images serve --dev-token --sample

migrate: $(STAMP)
	$(BIN)/swr-official-images migrate

test: $(STAMP) $(NODE_STAMP)
	$(PYTEST)

# The inner loop: everything but the tests marked slow (those that start a process: servers, the
# CLI, the client's virtualenv, Node, the browser, the generator). `make test`, and CI, run all.
test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

fuzz: $(STAMP)
	$(BIN)/python -m tests.support.fuzz --max-examples $(FUZZ_EXAMPLES)

# Figures for comparison side by side in one run, not pass/fail thresholds. Needs wrk. The JSON
# of the last run is bench/results/latest.json.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Spectral: spectral:oas plus the rules in .spectral.yaml; a warning fails like an error.
lint: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(NODE_BIN)/spectral lint openapi.yaml --fail-severity=warn
	$(BIN)/lint-imports --no-logo
	$(MAKE) --no-print-directory typecheck check-breaking

# As openapi-python-client's own end-to-end tests check what it generates.
typecheck: $(STAMP)
	$(BIN)/mypy --strict $(TYPECHECK_PATHS)

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The client is generated, never edited: wipe it and generate it again from the spec.
generate: $(STAMP)
	rm -rf $(CLIENT)
	$(GENERATE) --output-path $(CLIENT)
	rm -rf $(CLIENT)/.ruff_cache

check-generated: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GENERATE) --output-path "$$tmp/client" >/dev/null && \
	diff -r --exclude=.ruff_cache --exclude=.pdm-build --exclude=__pycache__ $(CLIENT) "$$tmp/client" && \
	echo "$(CLIENT)/ matches openapi.yaml"

check-breaking: $(STAMP)
	$(BIN)/python -m tools.breaking $(RELEASED_SPEC) openapi.yaml

release: $(STAMP)
	$(BIN)/python -m tools.release

# No isolation: the pinned pdm-backend of .venv builds it, as it is, from the committed sources.
client-dist: $(STAMP)
	$(BIN)/python -m build --no-isolation --sdist --wheel --outdir $(DIST) $(CLIENT)
	rm -rf $(CLIENT)/.pdm-build

# The site: Redoc's page first (through Redocly's CLI, its bundle inlined: no CDN; no telemetry,
# no update check; its template forbids loading anything from another host, Redoc's logo
# included), then MkDocs in strict mode, which takes the page in as reference/index.html.
docs: $(STAMP) $(NODE_STAMP)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	$(NODE_BIN)/redocly build-docs openapi.yaml --inlineBundle --template docs/redoc.hbs \
		--output $(REFERENCE)
	NO_MKDOCS_2_WARNING=1 SWR_DOCS_REFERENCE=$(REFERENCE) $(BIN)/mkdocs build --strict --site-dir $(DOCS)

# The docs' tables generated from their sources: settings, command line, metrics.
docs-generate: $(STAMP)
	$(BIN)/python -m tools.docs

# The framework comparison's chart, from the last `make bench` run's JSON.
bench-chart: $(STAMP)
	$(BIN)/python -m bench.chart bench/results/latest.json docs/img/frameworks.svg

clean:
	rm -rf $(VENV) node_modules dist build test-results .pytest_cache .ruff_cache .mypy_cache

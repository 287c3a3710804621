# invoice-chaos — the two commands a new user needs are `make run` and `make test`.
# Every target goes through `make setup`, which is idempotent: a second call only
# checks that everything is in place.

PYTHON       ?= python3
VENV         := .venv
BIN          := $(VENV)/bin
TOOLS        := .tools/bin
TOXIPROXY_VERSION := 2.12.0
SCENARIO     ?= scenarios/holiday_peak.yaml
ARGS         ?=
PYTEST_ARGS  ?=

export PATH := $(CURDIR)/$(TOOLS):$(PATH)

.PHONY: setup faketime run test test-fast lint bench clean distclean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(VENV)/.installed $(TOOLS)/toxiproxy-server $(TOOLS)/toxiproxy-server-static $(TOOLS)/.chromium faketime .tools/nuonuo-sdk/lib/open-sdk-1.0.5.2.jar  ## create .venv, install the project, Toxiproxy (and a static one for the docker images), chromium, libfaketime and the nuonuo Java SDK (idempotent)

# The exact versions of constraints.txt; the test and lint extras of pyproject.toml too.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,lint]"
	@touch $@

# Toxiproxy: an existing toxiproxy-server on PATH first, else build the pinned
# release with Go, else say what the alternatives are.
$(TOOLS)/toxiproxy-server:
	@mkdir -p $(TOOLS)
	@./scripts/install-toxiproxy.sh $(TOXIPROXY_VERSION) $(TOOLS)

# Debian's chromium for the headless render test of sweep.html (scripts/install-chromium.sh).
$(TOOLS)/.chromium:
	@mkdir -p $(TOOLS)
	@./scripts/install-chromium.sh
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then touch $@; fi

# The docker backend's Toxiproxy image is FROM scratch: it needs a statically linked server.
$(TOOLS)/toxiproxy-server-static: $(TOOLS)/toxiproxy-server
	@./scripts/install-toxiproxy.sh $(TOXIPROXY_VERSION) $(TOOLS) static

# The official nuonuo Java SDK and its dependencies, resolved by Maven into .tools/ (for
# examples/nuonuo_java and its test); without a JDK and Maven a note, never a failure.
.tools/nuonuo-sdk/lib/open-sdk-1.0.5.2.jar: examples/nuonuo_java/pom.xml
	@./scripts/install-nuonuo-sdk.sh

# libfaketime (Debian's faketime package) for the clock_skew fault: apt-get when root,
# else a note; never fails the setup.
faketime:
	@./scripts/install-faketime.sh

run: setup  ## run the default scenario (SCENARIO=..., ARGS=... to change)
	$(BIN)/invoice-chaos run $(SCENARIO) $(ARGS)

lint: setup  ## ruff over the tree, mypy on the modules pyproject.toml names
	$(BIN)/ruff check .
	$(BIN)/mypy

test: setup  ## the whole test suite, integration tests included
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup  ## unit tests only (no real processes)
	$(BIN)/python -m pytest -m "not integration" $(PYTEST_ARGS)

bench: setup  ## the benchmarks of benchmarks/ (BENCH="platform load checker"; figures go to docs/performance.md by hand)
	$(BIN)/python -m benchmarks $(BENCH)

clean:  ## remove run directories
	rm -rf reports/*/ .pytest_cache

distclean: clean  ## also remove .venv and .tools
	rm -rf $(VENV) .tools

# ecrm — two commands for a new user: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export DO_NOT_TRACK := 1

.PHONY: demo test install install-dev browser java lint bench bench-all clean mutation

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24" "setuptools<82" wheel

# Installs exactly the tested versions (constraints.txt), then the project itself.
install: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .

# The tests build on DuckDB and on Spark, so the development install has the spark extra too.
install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,spark]"

# Debian's Chromium for the dashboard's browser test (a browser download never works offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: the browser test will be skipped (install Debian's chromium)"; fi; }

# A Java runtime from Debian's packages for PySpark (the Spark build and its tests).
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	  else echo "java not found: the Spark tests will be skipped (install Debian's openjdk-17-jre-headless)"; fi; }

demo: install
	$(BIN)/ecrm demo --customers 10000

# Two workers (see tests/conftest.py): the tests that build pipelines of their own on one, everything sharing
# the session's pipelines on the other. dbt parses the project once first, so the workers never both write
# its manifest.
test: install-dev browser java
	$(BIN)/python -c "import orchestration.assets.dbt"
	$(BIN)/python -m pytest -n 2

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: install-dev
	$(BIN)/python benchmarks/pipeline.py --customers 10000
	$(BIN)/python benchmarks/pipeline.py --customers 100000

bench-all: bench
	$(BIN)/python benchmarks/pipeline.py --customers 1000000

# Mutation testing of the loading and analytics packages ([tool.mutmut] in pyproject.toml); slow: hours on
# two cores. Results stay in mutants/ (`mutmut results`, `mutmut show <name>`); a second run retests only
# what changed. MUTANTS narrows the run to name patterns, e.g. MUTANTS='orchestration.loading.rules.*'.
MUTANTS ?=
mutation: install-dev
	$(BIN)/pip install --quiet -c constraints.txt "mutmut==3.8.1"
	ECRM_SHARED_DATASETS="$(CURDIR)/../shared/datasets" $(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/mutmut results

clean:
	rm -rf data dbt_project/target dbt_project/logs .dagster_home/storage .dagster_home/history .dagster_home/schedules

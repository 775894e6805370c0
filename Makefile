# Two entry points: `make run` (the app on embedded defaults) and `make test` (everything CI checks).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck imports pytest pytest-postgres install clean bench bundle

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tracet-gui run

lint: $(STAMP)
	$(BIN)/ruff check tracet_gui tests database bench
	$(BIN)/ruff format --check tracet_gui tests database bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# The storage, pipeline and ingest tests again with PostgreSQL behind the `db` fixture (skipped if no server can
# be found or started: TRACET_TEST_PG_URL, else the distribution's initdb/pg_ctl).
pytest-postgres: $(STAMP)
	TRACET_TEST_BACKEND=postgresql QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests/storage tests/pipeline tests/ingest

test: lint typecheck imports pytest pytest-postgres

# The PyInstaller one-folder bundle in dist/tracet-gui/, smoke-tested (packaging/build_bundle.sh).
bundle: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bundle,test,postgres]'
	PYTHON=$(abspath $(BIN))/python packaging/build_bundle.sh

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

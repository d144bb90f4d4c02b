# botcensus: every target bootstraps .venv from the pinned locks on first use and reuses it after.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV     := $(BIN)/uv

.PHONY: demo test test-all lint fmt bench lock clean

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/botcensus demo

test: $(STAMP) lint
	$(BIN)/python -m pytest -q

# Everything `test` runs, and the heavy accuracy tests on full-size populations (CI).
test-all: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "heavy or not heavy"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Benchmarks compare against their anchors (nginx, bare DuckDB, IntelMQ) in the same run.
bench: $(STAMP)
	sh bench/setup-debian.sh
	$(BIN)/python bench/sinkhole_vs_nginx.py
	$(BIN)/python bench/census_bench.py

# Maintainers only: re-pin after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(UV) pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.txt
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements-dev.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

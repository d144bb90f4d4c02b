# botcensus: every target bootstraps .venv from the pinned locks on first use and reuses it after.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV     := $(BIN)/uv

.PHONY: demo test test-all lint fmt bench lock clean web-assets

$(STAMP): requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/botcensus demo

# Under CI=true (.ci/run) `make test` is `make test-all`.
test: $(STAMP) lint
	$(BIN)/python -m pytest -q $(if $(filter true,$(CI)),-m "heavy or not heavy",)

# Everything `test` runs, and the heavy accuracy tests on full-size populations (CI=true).
test-all: $(STAMP) lint
	$(BIN)/python -m pytest -q -m "heavy or not heavy"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Benchmarks compare against their anchors (nginx, bare DuckDB, IntelMQ, an SMTP sink) in the same run.
bench: $(STAMP)
	sh bench/setup-debian.sh
	$(BIN)/python bench/sinkhole_vs_nginx.py
	$(BIN)/python bench/census_bench.py
	$(BIN)/python bench/notify_bench.py

# Maintainers only: re-pin after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(UV) pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.txt
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements-dev.txt

# Maintainers only: fetch the vendored browser assets again from npm and check their digests
# against the vendor README (the files are committed: installing needs no npm).
VENDOR := src/botcensus/web/static/vendor
web-assets:
	rm -rf .web-assets && mkdir .web-assets
	cd .web-assets && npm pack --silent uplot@1.6.32 topojson-client@3.1.0 world-atlas@2.0.2 \
		i18n-iso-countries@7.14.0 >/dev/null && for f in *.tgz; do mkdir "$${f%.tgz}" && \
		tar xzf "$$f" -C "$${f%.tgz}"; done
	cp .web-assets/uplot-1.6.32/package/dist/uPlot.iife.min.js \
		.web-assets/uplot-1.6.32/package/dist/uPlot.min.css $(VENDOR)/
	cp .web-assets/topojson-client-3.1.0/package/dist/topojson-client.min.js $(VENDOR)/
	cp .web-assets/world-atlas-2.0.2/package/countries-110m.json $(VENDOR)/
	cp .web-assets/i18n-iso-countries-7.14.0/package/codes.json $(VENDOR)/iso-3166-codes.json
	cd $(VENDOR) && sed -n '/^[0-9a-f]\{64\}  /p' README.md | sha256sum -c
	rm -rf .web-assets

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

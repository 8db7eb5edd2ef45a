# Set-up and the three entry points: `make demo`, `make test`, `make bench`.
# Everything is installed into ./.venv; Debian packages (wsclean, postgresql, chromium) are
# installed by scripts/system-deps.sh when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install system-deps demo serve-demo test bench bench-scale pg lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -m pip install -q -e '.[all,test]' 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -c "import dsa110_contimg, pyuvdata, casacore, reproject, distributed, fastapi, psycopg, playwright"
	touch $(STAMP)

install: system-deps $(STAMP)

system-deps:
	bash scripts/system-deps.sh

pg: system-deps
	@bash scripts/pg-test-server.sh

demo: install
	$(VENV)/bin/contimg --state-dir demo-output/state demo --output-dir demo-output

serve-demo: install
	$(VENV)/bin/contimg --state-dir demo-output/state serve --data-root demo-output

test: install
	CONTIMG_TEST_POSTGRES_URL="$$(bash scripts/pg-test-server.sh)" $(PY) -m pytest $(PYTEST_ARGS)

bench: install
	CONTIMG_TEST_POSTGRES_URL="$$(bash scripts/pg-test-server.sh)" $(PY) benchmarks/run_all.py

# Survey scale on PostgreSQL (issue 17), not part of `make bench`: SCALE_ROWS=1e7 (default) or
# 1e8 (~20 GB of disk); its own loopback server (SCALE_PG_PORT, default 54339), run niced.
SCALE_ROWS ?= 1e7
bench-scale: install
	nice -n 10 $(PY) benchmarks/bench_scale.py --rows $(SCALE_ROWS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo-output .bench-out .pytest_cache

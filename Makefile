# Both targets set themselves up: a fresh machine needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-out

.PHONY: demo demo-postgres test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	TRIAL_LEDGER_PASSPHRASE=$${TRIAL_LEDGER_PASSPHRASE:-demo-passphrase} \
		$(BIN)/trial-ledger demo --db $(DEMO_DIR)/trial.db --keys $(DEMO_DIR)/keys

# The same demo on a throwaway PostgreSQL cluster (127.0.0.1, removed afterwards; the server
# binaries come from Debian's postgresql package): the ledger is built there as the
# application role after `db init-roles`, verified, followed by the projections, and copied
# back to $(DEMO_DIR)-postgres/trial.db with its root unchanged, for you to keep.
demo-postgres: $(STAMP)
	rm -rf $(DEMO_DIR)-postgres && mkdir -p $(DEMO_DIR)-postgres
	TRIAL_LEDGER_PASSPHRASE=$${TRIAL_LEDGER_PASSPHRASE:-demo-passphrase} PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/python -m tools.pg_cluster run -- bash tools/demo_postgres.sh $(DEMO_DIR)-postgres

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

# Benchmarks print their figures; BENCH_EVENTS=1000000 for the full-size run (several minutes).
BENCH_EVENTS ?= 200000
bench: $(STAMP)
	$(BIN)/python -m bench.bench_log --events $(BENCH_EVENTS) --out bench-out/log
	$(BIN)/python -m bench.bench_projections --events $(BENCH_EVENTS) --out bench-out/projections

clean:
	rm -rf $(VENV) $(DEMO_DIR) $(DEMO_DIR)-postgres .mypy_cache .pytest_cache .ruff_cache

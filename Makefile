# Both targets set themselves up: a fresh machine needs only python3 (>= 3.11) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR ?= demo-out

.PHONY: demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	TRIAL_LEDGER_PASSPHRASE=$${TRIAL_LEDGER_PASSPHRASE:-demo-passphrase} \
		$(BIN)/trial-ledger demo --db $(DEMO_DIR)/trial.db --keys $(DEMO_DIR)/keys

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
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .pytest_cache .ruff_cache

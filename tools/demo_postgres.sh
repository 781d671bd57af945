#!/usr/bin/env bash
# `make demo-postgres`: run by `python -m tools.pg_cluster run`, which started a throwaway
# cluster and set TRIAL_LEDGER_DB to its database `trial` (as the superuser).
set -euo pipefail
out="$1"
admin="$TRIAL_LEDGER_DB"
writer="${admin/postgres@/trial_writer@}"
reader="${admin/postgres@/trial_reader@}"
set -x
trial-ledger db init-roles --db "$admin"
trial-ledger demo --db "$writer" --keys "$out/keys"
trial-ledger verify --db "$reader"
trial-ledger copy --from "$reader" --to "$out/trial.db"
trial-ledger projections follow --db "$reader" --once
trial-ledger summary --db "$reader"

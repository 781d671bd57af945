"""trial-ledger: a signed, hash-chained, Merkle-checkpointed event ledger for NCT00635154."""

"""RFC 9162 proofs over the ledger, in the JSON shapes of the public test vectors.

Inclusion: ``{"leafIdx", "treeSize", "leafHash", "root", "proof"}`` (hashes base64), with
``leafIdx = position - 1``. Consistency: ``{"size1", "size2", "root1", "root2", "proof"}``.
A third-party RFC 9162 verifier checks them as they are; the leaf hash is
``SHA-256(0x00 || envelope)`` with the envelope defined in ``ledger.chain``.
"""

from __future__ import annotations

import base64
from typing import Any

from ledger.errors import UsageError
from ledger.integrity import merkle
from ledger.store import LedgerReader


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _tree_size(reader: LedgerReader, tree_size: int | None, option: str) -> int:
    size = reader.size()
    if tree_size is None:
        return size
    if not 1 <= tree_size <= size:
        raise UsageError(f"{option} {tree_size}: the ledger holds positions 1..{size}")
    return tree_size


def inclusion(reader: LedgerReader, position: int, tree_size: int | None = None) -> dict[str, Any]:
    with reader.snapshot():
        return _inclusion(reader, position, tree_size)


def _inclusion(reader: LedgerReader, position: int, tree_size: int | None) -> dict[str, Any]:
    size = _tree_size(reader, tree_size, "--tree-size")
    if not 1 <= position <= size:
        raise UsageError(
            f"--position {position}: the tree of size {size} holds positions 1..{size}"
        )
    leaves = list(reader.leaf_hashes(1, size))
    proof = merkle.inclusion_proof(leaves, position - 1, size)
    return {
        "leafIdx": position - 1,
        "treeSize": size,
        "leafHash": _b64(leaves[position - 1]),
        "root": _b64(merkle.root(leaves)),
        "proof": [_b64(p) for p in proof],
    }


def consistency(reader: LedgerReader, size1: int, size2: int | None = None) -> dict[str, Any]:
    with reader.snapshot():
        return _consistency(reader, size1, size2)


def _consistency(reader: LedgerReader, size1: int, size2: int | None) -> dict[str, Any]:
    second = _tree_size(reader, size2, "--to")
    if not 1 <= size1 <= second:
        raise UsageError(f"--from {size1}: must be between 1 and --to ({second})")
    leaves = list(reader.leaf_hashes(1, second))
    proof = merkle.consistency_proof(leaves, size1, second)
    return {
        "size1": size1,
        "size2": second,
        "root1": _b64(merkle.root(leaves[:size1])),
        "root2": _b64(merkle.root(leaves)),
        "proof": [_b64(p) for p in proof],
    }

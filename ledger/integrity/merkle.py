"""RFC 9162 Merkle Tree Hash, frontier, and inclusion / consistency proofs (SHA-256).

* §2.1.1: ``MTH({}) = SHA-256()``; leaf ``SHA-256(0x00 || d)``; interior node
  ``SHA-256(0x01 || left || right)``, splitting ``n`` leaves at the largest power of two
  ``k < n``. That tree equals the bottom-up pairing in which a lone last node at a level is
  promoted unchanged, which is what :func:`root` and the proof builders iterate over (no
  recursion, no slicing copies).
* :class:`MerkleFrontier` is the compact range ``[0, size)``: one perfect-subtree root per set
  bit of ``size``, largest first (O(log n) memory, amortised one node hash per append). Its
  JSON form is ``{"size": n, "hashes": [lowercase hex, ...]}`` with ``popcount(n)`` hashes.
* §2.1.3.1 PATH / §2.1.4.1 SUBPROOF are built by :func:`inclusion_proof` /
  :func:`consistency_proof`; §2.1.3.2 / §2.1.4.2 are :func:`verify_inclusion` /
  :func:`verify_consistency`, which first check the proof length implied by the sizes (the
  decomposition into inner and right-border nodes) and then run the RFC algorithm verbatim.

Policy beyond the RFC (as for the transparency-dev test vectors): every hash must be 32 bytes;
``index < tree_size``; ``size1 = 0`` is refused (a consistency proof from the empty tree proves
nothing); ``size1 = size2`` needs an empty proof and equal roots. Failures raise
:class:`~ledger.errors.ProofError` stating what was expected and what was found.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from ledger.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "MerkleFrontier",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()
_HEX = re.compile("[0-9a-f]{64}")


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what}: expected {HASH_SIZE} bytes; found {len(value)}")


def _next_level(level: list[bytes]) -> list[bytes]:
    """One level up: pairs hashed left to right, an odd last node promoted unchanged (which
    builds the same left-balanced tree as the RFC's split at the largest power of two)."""
    sha256 = _sha256
    upper = [
        sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
    ]
    if len(level) % 2:
        upper.append(level[-1])
    return upper


def _leaf_level(leaf_hashes: Sequence[bytes], size: int) -> list[bytes]:
    level = list(leaf_hashes[:size])
    if any(len(value) != HASH_SIZE for value in level):
        for i, value in enumerate(level):
            _check_hash(f"leaf hash {i}", value)
    return level


def _levels(leaf_hashes: Sequence[bytes], size: int) -> list[list[bytes]]:
    """All levels of the tree over the first ``size`` leaves, leaves first, root level last."""
    levels = [_leaf_level(leaf_hashes, size)]
    while len(levels[-1]) > 1:
        levels.append(_next_level(levels[-1]))
    return levels


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over already-hashed leaves (keeps one level at a time)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = _leaf_level(leaf_hashes, len(leaf_hashes))
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


class MerkleFrontier:
    """Compact range [0, size): the roots of the perfect subtrees of the tree, largest first."""

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._size = 0
        self._stack: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash; merges equal-height subtrees (one node hash per carried bit)."""
        if len(leaf_hash) != HASH_SIZE:
            raise ProofError(f"leaf hash: expected {HASH_SIZE} bytes; found {len(leaf_hash)}")
        stack, size, node = self._stack, self._size, leaf_hash
        while size & 1:
            node = _sha256(b"\x01" + stack.pop() + node).digest()
            size >>= 1
        stack.append(node)
        self._size += 1

    def stack_for_extension(self) -> tuple[list[bytes], int]:
        """The live subtree-root stack and size, for a caller that inlines :meth:`append`
        on a hot path (it must append exactly as :meth:`append` does, then call
        :meth:`finish_extension`)."""
        return self._stack, self._size

    def finish_extension(self, stack: list[bytes], size: int) -> None:
        if stack is not self._stack or len(stack) != size.bit_count():
            raise ProofError(
                f"frontier extension: expected {size.bit_count()} subtree roots for size {size}; "
                f"found {len(stack)}"
            )
        self._size = size

    def root(self) -> bytes:
        """MTH of the leaves appended so far (folds the subtree roots right to left)."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        node = stack[-1]
        for left in reversed(stack[:-1]):
            node = node_hash(left, node)
        return node

    def to_json(self) -> dict[str, object]:
        return {"size": self._size, "hashes": [node.hex() for node in self._stack]}

    @classmethod
    def from_json(cls, data: object) -> MerkleFrontier:
        """Rebuild from :meth:`to_json` output; raises ProofError on any mismatch."""
        if not isinstance(data, dict) or set(data) != {"size", "hashes"}:
            raise ProofError(f"frontier: expected keys size, hashes; found {data!r}")
        size, hashes = data["size"], data["hashes"]
        if type(size) is not int or size < 0:
            raise ProofError(f"frontier: expected a non-negative int size; found {size!r}")
        if not isinstance(hashes, list) or len(hashes) != size.bit_count():
            raise ProofError(
                f"frontier of size {size}: expected {size.bit_count()} hashes; found {hashes!r}"
            )
        frontier = cls()
        for i, text in enumerate(hashes):
            if not isinstance(text, str) or not _HEX.fullmatch(text):
                raise ProofError(f"frontier hashes[{i}]: expected 64 lowercase hex; found {text!r}")
            frontier._stack.append(bytes.fromhex(text))
        frontier._size = size
        return frontier

    def __repr__(self) -> str:
        return f"MerkleFrontier(size={self._size}, root={self.root().hex()})"


def _path(levels: list[list[bytes]], level: int, index: int) -> list[bytes]:
    """Siblings of node ``index`` at ``level`` up to the root: PATH/SUBPROOF order (bottom up)."""
    proof = []
    for nodes in levels[level:-1]:
        if index ^ 1 < len(nodes):
            proof.append(nodes[index ^ 1])
        index >>= 1
    return proof


def _check_sizes(leaf_count: int, tree_size: int, what: str) -> None:
    if not 0 < tree_size <= leaf_count:
        raise ProofError(f"{what}: expected 1 <= tree size <= {leaf_count}; found {tree_size}")


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:tree_size])."""
    _check_sizes(len(leaf_hashes), tree_size, "inclusion proof")
    if not 0 <= index < tree_size:
        raise ProofError(f"inclusion proof: expected 0 <= index < {tree_size}; found {index}")
    return _path(_levels(leaf_hashes, tree_size), 0, index)


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true)."""
    _check_sizes(len(leaf_hashes), size2, "consistency proof")
    if not 0 < size1 <= size2:
        raise ProofError(f"consistency proof: expected 1 <= size1 <= {size2}; found {size1}")
    if size1 == size2:
        return []
    # The largest perfect subtree ending at size1 sits at this level and index; it is
    # omitted when it is the whole old tree (size1 a power of two): the verifier has root1.
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    levels = _levels(leaf_hashes, size2)
    seed = [] if index == 0 else [levels[level][index]]
    return seed + _path(levels, level, index)


def _inner_border(index: int, size: int) -> tuple[int, int]:
    """Split a path for leaf ``index`` in a tree of ``size``: (inner nodes, right-border nodes)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner, (index >> inner).bit_count()


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: return None if ``proof`` proves ``leaf_hash`` at ``index``; else raise."""
    _check_hash("leaf hash", leaf_hash)
    _check_hash("root", root)
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
    if not 0 <= index < tree_size:
        raise ProofError(f"inclusion: expected 0 <= index < tree size {tree_size}; found {index}")
    want = sum(_inner_border(index, tree_size))  # with it right the loop ends at sn == 0
    if len(proof) != want:
        raise ProofError(
            f"inclusion of leaf {index} in tree of {tree_size}: expected {want} proof hashes; "
            f"found {len(proof)}"
        )
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if r != root:
        raise ProofError(
            f"inclusion of leaf {index} in tree of {tree_size}: expected root {root.hex()}; "
            f"proof computes {r.hex()}"
        )


def _check_same_tree(size: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Consistency of a tree with itself: an empty proof and equal roots."""
    if proof:
        raise ProofError(f"consistency {size}->{size}: expected empty proof; found {len(proof)}")
    if root1 != root2:
        raise ProofError(
            f"consistency {size}->{size}: expected equal roots; found root1 {root1.hex()}, "
            f"root2 {root2.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 §2.1.4.2: return None if ``proof`` shows tree size1 is a prefix of size2."""
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
    if not 0 < size1 <= size2:
        raise ProofError(f"consistency: expected 1 <= size1 <= size2 = {size2}; found {size1}")
    if size1 == size2:
        _check_same_tree(size1, proof, root1, root2)
        return
    # Length implied by the sizes; with it right the RFC loop below always ends at sn == 0.
    shift = (size1 & -size1).bit_length() - 1
    inner, border = _inner_border(size1 - 1, size2)
    power_of_two = size1 & (size1 - 1) == 0
    want = inner - shift + border + (0 if power_of_two else 1)
    if len(proof) != want:
        raise ProofError(
            f"consistency {size1}->{size2}: expected {want} proof hashes; found {len(proof)}"
        )
    path = [root1, *proof] if power_of_two else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    for name, given, got in (("root1", root1, fr), ("root2", root2, sr)):
        if given != got:
            raise ProofError(
                f"consistency {size1}->{size2}: expected {name} {given.hex()}; "
                f"proof computes {got.hex()}"
            )

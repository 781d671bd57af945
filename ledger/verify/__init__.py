"""Whole-ledger and incremental verification: every hash, link, signature, key and checkpoint.

One streaming pass in position order, memory independent of ledger size (the Merkle frontier is
O(log n), a commit's leaves are held only until its root is checked, and the registry and the
subject-to-site map grow with people and subjects, not events). For each event it checks:

1. the position is the next one (no gap, no duplicate, no reordering);
2. the leaf recomputed from the stored columns and the previous leaf (``ledger.chain``) equals
   the stored leaf hash (content altered, or the chain link broken);
3. the event lies in the signed commit that claims it, and the commit's signer was a registered,
   unrevoked, unexpired key whose role and site allowed this event type at this position;

and for each commit: contiguous sequence numbers, the ``prev_leaf`` link, recorded times that
never run backwards, the RFC 9162 root of its leaves, and the Ed25519 signature over its header.
Every signed checkpoint (stored in the ledger, or passed with ``--against``) must be met with
the same root at its size; one beyond the end of the ledger means the tail was truncated.

Nothing the ledger file holds is trusted unless it is re-proved from the stored bytes or
checked against something the verifier holds itself. ``against`` (a checkpoint note the
caller kept) is checked by a full pass: every stored byte a leaf covers is rehashed from
position 1, the root at the checkpoint's size must equal the signed one, and everything after
it is proved as well. The checkpoints and Merkle frontiers kept inside the ledger file are
checked like any other stored data (each kept checkpoint must match the root at its size) and
never used as a shortcut.

Incremental mode needs state the verifier wrote itself (``ledger.verifier_state``, the
``--state DIR`` of the CLI): after a successful pass it keeps the size, last leaf, Merkle
frontier, registry events and subject sites it proved; the next pass starts there and reads
only the events appended since, in time proportional to them. It vouches for the prefix only
as this verifier proved it earlier: a rewrite of stored rows below that point is caught by
the next full pass (or by anyone comparing the ledger's roots with the ones the state holds).

Where things are:

* :mod:`~ledger.verify.whole`: :func:`verify_ledger`, a full or resumed pass of the whole ledger;
* :mod:`~ledger.verify.log_pass`: the pass over the log (events, commits, who may sign what);
* :mod:`~ledger.verify.checkpoints`: checkpoints met by a pass, and the one given with
  ``against``;
* :mod:`~ledger.verify.incremental`: resuming from the verifier's state, and saving it;
* :mod:`~ledger.verify.signatures`: commit signatures, here or in a worker process;
* :mod:`~ledger.verify.commit_proof`: one commit re-proved from its stored rows;
* :mod:`~ledger.verify.registry_proof`: the key registry re-proved commit by commit
  (:func:`proved_registry`) and :class:`CommitProver` for what a command shows;
* :mod:`~ledger.verify.segment`: :func:`verify_from`, the segment after a tracked position;
* :mod:`~ledger.verify.report`: :class:`VerifyReport` and its first :class:`Failure`;
* :mod:`~ledger.verify.source`: :class:`LedgerSource`, what verification reads.
"""

from __future__ import annotations

from ledger.verify.checkpoints import checkpoint_origin
from ledger.verify.registry_proof import CommitProver, proved_registry
from ledger.verify.report import Failure, VerifyReport
from ledger.verify.segment import verify_from
from ledger.verify.signatures import PARALLEL_SIGNATURES_FROM, SIGNATURE_BATCH, SignatureCheck
from ledger.verify.source import TRIAL_ID, LedgerSource
from ledger.verify.whole import verify_ledger

__all__ = [
    "PARALLEL_SIGNATURES_FROM",
    "SIGNATURE_BATCH",
    "TRIAL_ID",
    "CommitProver",
    "Failure",
    "LedgerSource",
    "SignatureCheck",
    "VerifyReport",
    "checkpoint_origin",
    "proved_registry",
    "verify_from",
    "verify_ledger",
]

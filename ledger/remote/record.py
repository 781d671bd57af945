"""Recording on a served ledger, each commit signed here with the person's own key.

:class:`RemoteRecorder` sends a command to ``POST /v1/commands/prepare``, checks the proposal
the server answers (:func:`check_proposal`) and only then signs the commit header it rebuilt
itself, and sends the signature to ``POST /v1/commands/commit``. The private key never leaves
this machine; requests are signed with it too (:class:`~ledger.remote.auth.SignedRequests`).

What the check proves before anything is signed: every event's leaf is recomputed from its
columns and the leaf before it (:func:`ledger.chain.leaf_hash_of`), their RFC 9162 root is the
header's ``events_root``, the positions run contiguously from ``first_position`` to
``last_position``, every event decodes as a subject event of the commands' subjects (its
stream is that subject's), the header names this key as signer, the meaning asked for, a
``recorded_at`` within :data:`MAX_CLOCK_SKEW_S` of this machine's clock, and the ledger this
recorder learned from its first proposal (with ``sponsor_key``, the ledger the genesis
names); the bytes signed are the canonical bytes of the header rebuilt here, and the server's
``sign`` member must equal them. Then the events must be exactly what the commands can
produce (:func:`~ledger.remote.matching.check_matches`): for each command in order its own
event holding its values, then only the events its rules may add, for its subject; anything
else (an added correction, a duplicated event, an event of another subject) is refused,
naming its position and topic. Last, the rules run again here on the subjects' served
history (:class:`~ledger.remote.rederive.Rederivation`): the events must be, byte for byte,
the ones they give.

Given the sponsor's published public key (``sponsor_key``), the client also proves, before
signing, that the header's ``prev_leaf`` (the head the commit extends) is the served ledger's
history (:class:`~ledger.remote.head_proof.HeadProof`): the genesis and commit 1 (``GET
/v1/genesis``) rooted in that key, whose ledger id every proposal must then name; the latest
checkpoint signed by the ledger key the genesis names; the leaf at ``first_position - 1``
proved by inclusion under the checkpoint's root or, for commits landed after the checkpoint,
under the root of a tree the server's consistency proof shows extends it. These are proofs
(hashes only), which the server gives every authenticated caller, site staff included; they
go through ``log`` (default: ``client``, whose own ``auth`` must sign them). The genesis and
the checkpoint are proved once per recorder. Without ``sponsor_key`` the head is the
server's claim, as before. ``check`` may add a proof of its own before signing.

A head that moved between prepare and commit (409 ``.../head-moved``) is prepared again, up to
:data:`~ledger.recording.BUSY_RETRIES` times with jittered backoff, so the rules decide again
on the new state.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from ledger.chain import COMMIT_TYPE, CommitHeader, leaf_hash_of
from ledger.domain.commands import Command
from ledger.errors import (
    AuthorisationError,
    LedgerError,
    NotFoundError,
    StorageError,
    ValidationError,
    VerificationError,
)
from ledger.events import SubjectEvent, decode_event, subject_stream_id
from ledger.integrity import merkle
from ledger.integrity.canonical import canonical_json
from ledger.integrity.signing import Signer
from ledger.jsonl import parse_line
from ledger.recording import BUSY_RETRIES, busy_pause
from ledger.remote.auth import SignedRequests
from ledger.remote.head_proof import HeadProof
from ledger.remote.matching import ProposalRefused, check_matches
from ledger.remote.rederive import Rederivation
from ledger.remote.wire import LogClient

PREPARE_PATH = "/v1/commands/prepare"
COMMIT_PATH = "/v1/commands/commit"
HEAD_MOVED = "head-moved"
MAX_CLOCK_SKEW_S = 120.0
"""A proposal's ``recorded_at`` lies within this of the client's clock (no backdating)."""
HEADER_MEMBERS = frozenset(
    [
        "events_root",
        "first_position",
        "last_position",
        "ledger_id",
        "meaning",
        "prev_leaf",
        "recorded_at",
        "seq",
        "signer",
        "type",
    ]
)
EVENT_MEMBERS = frozenset(
    ("position", "originator_id", "originator_version", "topic", "state", "leaf_hash", "commit")
)


__all__ = ["Expected", "ProposalRefused", "RemoteRecorder", "check_matches", "check_proposal"]


class RemoteRefusal(LedgerError):
    """The served ledger refused the command: its problem's detail (the local message)."""


class RemoteFieldRefusal(ValidationError):
    """... naming a field and a value (so ``--json`` errors carry them, as locally)."""

    def __init__(self, detail: str, field: str, value: object) -> None:
        self.field, self.value, self.rule = field, value, detail
        LedgerError.__init__(self, detail)


@dataclass(frozen=True)
class Expected:
    """What the client asked for: who signs, with which meaning, about which subjects."""

    key_id: str
    meaning: str
    subjects: frozenset[str]
    ledger_id: str | None = None
    ledger_from: str = "of this recorder's first proposal"
    """Where ``ledger_id`` was learned (named in a refusal)."""


def _refuse(what: str) -> ProposalRefused:
    return ProposalRefused(f"the server's proposal was not signed: {what}")


def _header(document: object) -> CommitHeader:
    """The header members, each of its type, rebuilt as a :class:`CommitHeader`."""
    if not isinstance(document, dict) or set(document) != HEADER_MEMBERS:
        raise _refuse("its header does not have exactly the members of a commit header")
    if document["type"] != COMMIT_TYPE:
        raise _refuse(f"its header's type is {document['type']!r}, not {COMMIT_TYPE}")
    try:
        ints = [document[k] for k in ("seq", "first_position", "last_position")]
        texts = [document[k] for k in ("ledger_id", "signer", "meaning", "recorded_at")]
        if not all(type(v) is int for v in ints):
            raise TypeError("an integer member is not a JSON integer")
        if not all(isinstance(v, str) for v in texts):
            raise TypeError("a text member is not a string")
        prev_leaf, root = (bytes.fromhex(document[k]) for k in ("prev_leaf", "events_root"))
    except (TypeError, ValueError) as e:
        raise _refuse(f"its header is malformed ({e})") from None
    if len(prev_leaf) != 32 or len(root) != 32:
        raise _refuse("a header hash is not 32 bytes")
    return CommitHeader(
        seq=ints[0],
        ledger_id=texts[0],
        first_position=ints[1],
        last_position=ints[2],
        prev_leaf=prev_leaf,
        events_root=root,
        signer=texts[1],
        meaning=texts[2],
        recorded_at=texts[3],
    )


def _check_header(header: CommitHeader, expected: Expected, now: datetime) -> None:
    if header.signer != expected.key_id:
        raise _refuse(f"its signer is {header.signer}, not this key ({expected.key_id})")
    if header.meaning != expected.meaning:
        raise _refuse(f"its meaning is {header.meaning!r}, not {expected.meaning!r}")
    if expected.ledger_id is not None and header.ledger_id != expected.ledger_id:
        raise _refuse(
            f"it is for ledger {header.ledger_id}, not {expected.ledger_id} (the ledger "
            f"{expected.ledger_from})"
        )
    if not 1 <= header.first_position <= header.last_position or header.seq < 1:
        raise _refuse("its positions or commit number are out of order")
    try:
        recorded = datetime.fromisoformat(header.recorded_at.removesuffix("Z")).replace(tzinfo=UTC)
    except ValueError:
        raise _refuse(f"recorded_at {header.recorded_at!r} is not a time") from None
    if abs((recorded - now).total_seconds()) > MAX_CLOCK_SKEW_S:
        raise _refuse(f"recorded_at {header.recorded_at} is not now ({now.isoformat()})")


def _check_event(line: object, expected: Expected, header: CommitHeader, prev: bytes) -> bytes:
    """One event line: its leaf recomputed from its columns and ``prev``; returns the leaf."""
    if not isinstance(line, dict) or set(line) != EVENT_MEMBERS:
        raise _refuse("an event does not have exactly the members of an event line")
    try:
        state = str(line["state"]).encode("utf-8")
        leaf = leaf_hash_of(
            commit=int(line["commit"]),
            originator_id=str(line["originator_id"]),
            originator_version=int(line["originator_version"]),
            position=int(line["position"]),
            prev=prev,
            state=state,
            topic=str(line["topic"]),
        )
        stated = bytes.fromhex(line["leaf_hash"])
        event = decode_event(
            line["topic"], state, line["originator_id"], line["originator_version"]
        )
    except (LedgerError, TypeError, ValueError) as e:
        raise _refuse(f"event at position {line.get('position')!r} is malformed ({e})") from None
    if line["commit"] != header.seq or leaf != stated:
        raise _refuse(f"the leaf of position {line['position']} is not the leaf of its columns")
    named = f"position {line['position']} ({line['topic']})"
    if not _canonical(state):
        # One reading only: a member twice, escapes or spacing that other readers of the
        # stored bytes (SQL's json functions, a warehouse) may read otherwise.
        raise _refuse(f"{named}: its state is not RFC 8785 JSON with each member once")
    if not isinstance(event, SubjectEvent) or event.subject_id not in expected.subjects:
        raise _refuse(f"{named} is not an event of {', '.join(sorted(expected.subjects))}")
    if line["originator_id"] != subject_stream_id(event.subject_id).hex:
        raise _refuse(f"{named} is not in {event.subject_id}'s stream")
    return leaf


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a member twice")
    return found


def _canonical(state: bytes) -> bool:
    try:
        return canonical_json(json.loads(state, object_pairs_hook=_unique)) == state
    except (LedgerError, ValueError):
        return False


def check_proposal(
    document: dict[str, Any], expected: Expected, *, now: datetime | None = None
) -> CommitHeader:
    """The header to sign, rebuilt here, if the proposal binds exactly what was asked (see
    the module docstring); :class:`ProposalRefused` otherwise."""
    header = _header(document.get("header"))
    _check_header(header, expected, now or datetime.now(UTC))
    events = document.get("events")
    if not isinstance(events, list) or not events:
        raise _refuse("it holds no events")
    positions = [e.get("position") if isinstance(e, dict) else None for e in events]
    if positions != list(range(header.first_position, header.last_position + 1)):
        raise _refuse(
            f"its events are at positions {positions}, not {header.first_position}-"
            f"{header.last_position} in order"
        )
    leaves: list[bytes] = []
    prev = header.prev_leaf
    for line in events:
        prev = _check_event(line, expected, header, prev)
        leaves.append(prev)
    if merkle.root(leaves) != header.events_root:
        raise _refuse("the Merkle root of its events is not the header's events_root")
    try:
        offered = base64.b64decode(str(document.get("sign")), validate=True)
    except (binascii.Error, ValueError):
        offered = b""
    if offered != header.to_bytes():
        raise _refuse("the bytes it asks to be signed are not the canonical bytes of its header")
    return header


def problem_error(response: httpx.Response) -> LedgerError:
    """A problem answer as the error the CLI prints (its detail, as the local CLI says it)."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    detail = str(problem.get("detail") or f"HTTP {response.status_code}: {response.text[:200]}")
    status = response.status_code
    if status in (401, 403):
        return AuthorisationError(detail)
    if status == 404:
        return NotFoundError(detail)
    if status == 500 and str(problem.get("type", "")).endswith("/integrity"):
        return VerificationError(detail)
    field = problem.get("field")
    if field:
        return RemoteFieldRefusal(detail, str(field), problem.get("value"))
    return RemoteRefusal(detail)


class RemoteRecorder:
    """Records on the served ledger at ``client``'s base URL, signing with ``signer``.

    ``sponsor_key``: the sponsor's published raw public key; given, each proposal's
    ``prev_leaf`` is proved against the server's latest signed checkpoint before signing
    (:class:`~ledger.remote.head_proof.HeadProof`, kept in ``head_proof``), read through
    ``log`` (default ``client``; its ``auth`` signs the reads). ``check``: an extra proof of
    each proposal's header before signing, or None (tests use it to move the head between
    prepare and commit)."""

    def __init__(
        self,
        client: httpx.Client,
        signer: Signer,
        *,
        sponsor_key: bytes | None = None,
        log: httpx.Client | None = None,
        check: Callable[[CommitHeader], None] | None = None,
        retries: int = BUSY_RETRIES,
    ) -> None:
        self.client = client
        self.signer = signer
        self.auth = SignedRequests(signer)
        self.head_proof = (
            HeadProof(LogClient(log or client), sponsor_key) if sponsor_key is not None else None
        )
        self.rederivation = Rederivation(client, self.auth, self.head_proof)
        self.check = check
        self.retries = retries
        self.ledger_id: str | None = None
        self.attempts = 0
        """Prepares sent by the last call (1 unless the head moved)."""

    def record(self, command: Command) -> dict[str, Any]:
        """Record ``command``; the receipt (as ``--json`` receipts print it)."""
        body = {"command": json.loads(command.model_dump_json())}
        return self._run(body, command.meaning, [command])

    def import_lines(self, source: str, lines: list[str]) -> dict[str, Any]:
        """Record an import file's lines as one commit of authorship; the receipt. Each line
        is read here too, to check the proposal against it (a line that cannot be read is
        left to the server, which refuses the file naming it)."""
        commands = []
        for text in lines:
            try:
                commands.append(parse_line(text))
            except LedgerError:
                continue
        body = {"import": {"source": source, "lines": lines}}
        return self._run(body, "authorship", commands)

    def _expected(self, meaning: str, subjects: frozenset[str]) -> Expected:
        """What a proposal must bind; its ledger: the one the genesis names (with the
        sponsor key, proved before the first proposal is checked), else the one of the first
        proposal signed."""
        if self.head_proof is not None and self.ledger_id is None:
            self.ledger_id = self.head_proof.ledger_id()
        source = "the genesis names" if self.head_proof is not None else None
        return Expected(
            self.signer.key_id,
            meaning,
            subjects,
            self.ledger_id,
            source or "of this recorder's first proposal",
        )

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return self.client.post(path, json=body, auth=self.auth)
        except httpx.HTTPError as e:
            raise StorageError(
                f"cannot reach the served ledger at {self.client.base_url}: {e}"
            ) from None

    def _run(self, body: dict[str, Any], meaning: str, commands: list[Command]) -> dict[str, Any]:
        subjects = frozenset(c.subject_id for c in commands)
        for attempt in range(1, self.retries + 1):
            self.attempts = attempt
            prepared = self._post(PREPARE_PATH, body)
            if prepared.status_code != 200:
                raise problem_error(prepared)
            proposal = prepared.json()
            expected = self._expected(meaning, subjects)
            header = check_proposal(proposal, expected)
            check_matches(commands, proposal)
            self.rederivation.check(commands, proposal, header)  # the rules run again here
            if self.head_proof is not None:
                self.head_proof.prove(header)
            if self.check is not None:
                self.check(header)
            self.ledger_id = header.ledger_id
            signature = self.signer.sign(header.to_bytes())  # the bytes rebuilt here
            committed = self._post(
                COMMIT_PATH,
                {
                    "proposal": proposal["proposal"],
                    "signature": base64.b64encode(signature).decode(),
                },
            )
            if committed.status_code == 200:
                receipt: dict[str, Any] = committed.json()
                return receipt
            if _kind(committed) != HEAD_MOVED or attempt == self.retries:
                raise problem_error(committed)
            busy_pause(attempt)
        raise AssertionError("unreachable")  # pragma: no cover


def _kind(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return ""
    kind = problem.get("type", "") if isinstance(problem, dict) else ""
    return str(kind).rsplit("/", 1)[-1]

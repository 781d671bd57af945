"""Recording over HTTP, signed on the caller's side: the server never holds a person's key.

``POST /v1/commands/prepare`` with ``{"command": {...}}`` (one import line's object, ``sign``
too) or ``{"import": {"source": name, "lines": [text, ...]}}`` (an import file's lines, one
commit of authorship): the subject is loaded and re-proved, the rules run, the caller's role
and site are checked and the commit header the events would get on the current head is
computed (:mod:`ledger.proposals`); nothing is written. The answer::

    {"proposal": id, "expires_at": "...Z", "header": {CommitHeader.to_dict()},
     "sign": base64 of header.to_bytes(),
     "events": [{position, originator_id, originator_version, topic, state, leaf_hash,
                 commit}],           (exactly export-bundle events.jsonl lines)
     "receipt": [the lines the CLI's receipt prints]}

The caller checks it, signs ``header.to_bytes()`` with their own key and sends ``POST
/v1/commands/commit`` ``{"proposal": id, "signature": base64}`` within 120 s; the answer is the
receipt as ``--json`` prints it: ``{commit, positions, recorded_at, signer_key_id,
signer_name, role, meaning, events: [{position, event, subject_id, effective_date, detail,
payload}]}``. A refusal by the rules is a 422 problem naming the field, the value and the
rule (the CLI's message); a head that moved between the two steps is a 409 problem of type
``.../head-moved`` (nothing written: prepare again); a signature that does not verify, another
caller's proposal, a used or expired one are refused and nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ledger.cli.remote import receipt_document, receipt_lines
from ledger.errors import ValidationError
from ledger.input_limits import loads
from ledger.input_limits.limits import MAX_FILE_BYTES, MAX_LINE_BYTES, MAX_LINES
from ledger.proposals import (
    Proposal,
    ProposalBook,
    command_of,
    commit,
    prepare_command,
    prepare_import,
)
from ledger.recording import TrialRecorder
from ledger.server.access import CallerDep
from ledger.server.access.caller import Caller
from ledger.server.problems import ProblemError
from ledger.server.state import ServerState
from ledger.service import TrialLedger
from ledger.store.seal import HeadMovedError

RECORDING = "recording"
MAX_BODY_BYTES = MAX_FILE_BYTES + MAX_LINE_BYTES
"""An import file's limit and room for the members around its lines."""


class Writers:
    """One ledger and recorder per worker thread (a recorder is not shared between threads),
    and the proposals waiting for their signature."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.book = ProposalBook()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._ledgers: list[TrialLedger] = []

    def recorder(self) -> TrialRecorder:
        recorder: TrialRecorder | None = getattr(self._local, "recorder", None)
        if recorder is None:
            ledger = TrialLedger.open(self.state.config.record_db or self.state.config.db)
            with self._lock:
                self._ledgers.append(ledger)
            recorder = self._local.recorder = TrialRecorder(ledger)
        return recorder

    def close(self) -> None:
        with self._lock:
            ledgers, self._ledgers = self._ledgers, []
        for ledger in ledgers:
            ledger.close()


def writers_of(state: ServerState) -> Writers:
    found = state.extensions.get(RECORDING)
    if not isinstance(found, Writers):
        found = state.extensions.setdefault(RECORDING, Writers(state))
    return found


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Close the writers' ledgers when the server stops."""
    yield
    state: ServerState = app.state.server
    found = state.extensions.get(RECORDING)
    if isinstance(found, Writers):
        found.close()


router = APIRouter(prefix="/v1", tags=["recording"], lifespan=lifespan)


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="The import file's name (messages name it)", max_length=1000)
    lines: list[str] = Field(description="The file's lines, in order (blank lines skipped)")


class PrepareBody(BaseModel):
    """One command (an import line's JSON object, or ``sign``), or an import's lines."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    command: dict[str, Any] | None = Field(default=None, description="One recording command")
    import_: ImportBody | None = Field(default=None, alias="import")


class CommitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    proposal: str = Field(description="The proposal id prepare answered", max_length=200)
    signature: str = Field(description="base64 Ed25519 signature over the header bytes")


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.server
    return state


StateDep = Annotated[ServerState, Depends(_state)]


def _parsed(raw: bytes) -> dict[str, Any]:
    """The body within the import limits; a command's members read as an import line is (its
    decimals exactly as written, never through a binary float)."""
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError("body", f"{len(raw):,} bytes", "a request body is at most 65 MiB")
    try:
        text = raw.decode("utf-8")
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("body", raw[:80].decode("utf-8", "replace"), "not JSON") from None
    if (
        not isinstance(document, dict)
        or len(document) != 1
        or not {"command", "import"} & set(document)
    ):
        raise ValidationError("body", text, 'one member: "command" or "import"')
    if "command" in document:
        document = loads(text)  # the limits and the exact decimals of an import line
    return document  # type: ignore[no-any-return]


def _prepare(writers: Writers, caller: Caller, document: dict[str, Any]) -> Proposal:
    recorder = writers.recorder()
    if "command" in document:
        command = command_of(document["command"])
        return prepare_command(recorder, caller.key_id, command)
    body = ImportBody.model_validate(document["import"])
    if len(body.lines) > MAX_LINES:
        raise ValidationError(
            "import.lines", f"{len(body.lines):,} lines", f"an import holds at most {MAX_LINES:,}"
        )
    for number, line in enumerate(body.lines, start=1):
        if len(line.encode("utf-8", "surrogatepass")) > MAX_LINE_BYTES or "\x00" in line:
            raise ValidationError(
                f"import.lines[{number}]", line, "a line is at most 1 MiB of text without NUL"
            )
    return prepare_import(recorder, caller.key_id, body.source, body.lines)


def _answer(writers: Writers, proposal: Proposal) -> dict[str, Any]:
    registry = writers.recorder().ledger.registry()
    document = receipt_document(registry, proposal.header, proposal.rows)
    return {
        "proposal": proposal.id,
        "expires_at": proposal.expires_at_text,
        "header": proposal.header.to_dict(),
        "sign": base64.b64encode(proposal.header.to_bytes()).decode(),
        "events": proposal.event_lines(),
        "receipt": receipt_lines(document),
    }


@router.post(
    "/commands/prepare",
    summary="Prepare a commit for the caller to sign (writes nothing)",
    responses={409: {"description": "Busy"}},
)
async def prepare(
    request: Request, body: PrepareBody, caller: CallerDep, state: StateDep
) -> dict[str, Any]:
    """Check one recording command (or an import's lines) against the rules, the caller's
    role and site, and answer the commit header it would have now, to be signed by the
    caller and sent to ``/v1/commands/commit`` within 120 s."""
    document = _parsed(await request.body())
    writers = writers_of(state)

    def work() -> dict[str, Any]:
        proposal = _prepare(writers, caller, document)
        writers.book.add(proposal)
        return _answer(writers, proposal)

    return await run_in_threadpool(work)


@router.post(
    "/commands/commit",
    summary="Commit a prepared commit with the caller's signature over its header",
    responses={409: {"description": "The ledger's head moved: prepare again"}},
)
def commit_signed(body: CommitBody, caller: CallerDep, state: StateDep) -> dict[str, Any]:
    """Verify the signature over the prepared header under the caller's registered key and
    append exactly the prepared events, if the head is still the one they were prepared on;
    answers the receipt (as ``--json`` receipts print it)."""
    try:
        signature = base64.b64decode(body.signature, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "signature", body.signature, "expected base64 of a 64-byte Ed25519 signature"
        ) from None
    writers = writers_of(state)
    proposal = writers.book.take(body.proposal, caller.key_id)
    ledger = writers.recorder().ledger
    try:
        record = commit(ledger, proposal, caller.key_id, signature)
    except HeadMovedError as e:
        raise ProblemError(409, "head-moved", e.diagnostics()) from None
    return receipt_document(ledger.registry(), record.header, proposal.rows)

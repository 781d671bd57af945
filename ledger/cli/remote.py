"""``remote``: record on a served ledger, each commit signed here with your own key.

``trial-ledger remote <command> --server URL --key FILE ...`` exists for every recording
command, generated from the same command models and options as the local commands
(:func:`ledger.cli.options.parameters`): ``remote dose --server http://127.0.0.1:8080 --key
cole.key --subject MC0282-001-017 --drug anakinra --dose 100 --route SC --date 2003-01-14``
does what ``dose --db trial.db --key cole.key ...`` does, and prints the same receipt
(``--json``: the same document, ``{commit, positions, recorded_at, signer_key_id,
signer_name, role, meaning, events: [{position, event, subject_id, effective_date, detail,
payload}]}``). ``remote import FILE`` appends a JSON Lines file as one commit. ``remote token``
prints a token for the server (``--json``: ``{token, expires_at, key_id, role, site}``).

The server prepares the commit; this machine checks it (:func:`ledger.remote.record.
check_proposal`: leaves, root, header; :func:`ledger.remote.matching.check_matches`: exactly
the events the command can produce, its own with its values and only the rules' declared
additions for its subject) and signs the header it rebuilt; the private key never leaves it.
A refusal is one line on stderr and exit 2, nothing written; a proposal that is not what was
asked is an integrity failure (exit 1), nothing signed; a server that cannot be reached is
exit 2.

``--sponsor-key FILE`` (the sponsor's published public key, as ``follow`` takes it), on every
recording command and ``remote import``: before signing, the client also proves that the head
the commit extends (its header's ``prev_leaf``) is the served ledger's history, trusting only
that key and reading only the genesis, the checkpoint and proofs, which every caller (site staff
included) may read (:mod:`ledger.remote.head_proof`): the genesis and commit 1 rooted in it (the
proposal must be of the ledger it names), the latest checkpoint signed by the ledger key the
genesis names, and the leaf before the commit proved by inclusion under the checkpoint's root
or under the root of a later tree the server's consistency proof shows extends it. A head
that does not prove is an integrity failure (exit 1, one line naming the position and what
differed), nothing signed; a server with no signed checkpoint yet, or one that refuses this
key the genesis or the proofs, is refused with exit 2, nothing signed. The receipt is the
same as without it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.chain import CommitHeader, EventRow
from ledger.cli.common import (
    JsonFlag,
    KeyOption,
    PassphraseFileOption,
    console,
    emit_json,
    load_signer,
)
from ledger.cli.options import parameters
from ledger.cli.receipts import describe, signer_of
from ledger.domain.commands import COMMANDS, Command
from ledger.domain.commands.base import command_from
from ledger.errors import StorageError, printable
from ledger.events import event_name
from ledger.registry import KeyRegistry

ServerOption = Annotated[
    str,
    typer.Option(
        "--server",
        help="The served ledger's base URL, e.g. http://127.0.0.1:8080 "
        "(default: $TRIAL_LEDGER_SERVER).",
        envvar="TRIAL_LEDGER_SERVER",
        show_envvar=False,
        show_default=False,
    ),
]
SponsorKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--sponsor-key",
        help="The sponsor's published public key (as follow takes it): before signing, prove "
        "from the genesis and the server's proofs that the head the commit extends is in its "
        "latest signed checkpoint, or in a tree proved to extend it (exit 1 if not, nothing "
        "signed; exit 2 if the server has signed no checkpoint yet or refuses this key the "
        "proofs). Without it the head is the server's claim.",
        dir_okay=False,
        show_default=False,
    ),
]
REMOTE_HELP = (
    "Record on a served ledger, signing each commit here with your own key; get a token.\n\n"
    "Every recording command, with --server URL instead of --db: the server checks the rules "
    "and prepares the commit, this machine checks what it is asked to sign and signs it (the "
    "private key never leaves it). With --sponsor-key it also proves the head the commit "
    "extends against the server's latest signed checkpoint."
)

# --------------------------------------------------------------------------- receipts


def receipt_document(
    registry: KeyRegistry, header: CommitHeader, rows: Iterable[EventRow]
) -> dict[str, Any]:
    """What a recording command's ``--json`` prints, from the commit's header and rows (the
    served ledger answers it; ``print_recorded`` prints the same for a local command)."""
    name, role = signer_of(registry, header)
    events = []
    for row in rows:
        payload = json.loads(row.state)
        events.append(
            {
                "position": row.position,
                "event": event_name(row.topic),
                "subject_id": payload.get("subject_id"),
                "effective_date": payload.get("effective_date"),
                "detail": describe(row.topic, payload),
                "payload": payload,
            }
        )
    return {
        "commit": header.seq,
        "positions": list(range(header.first_position, header.last_position + 1)),
        "recorded_at": header.recorded_at,
        "signer_key_id": header.signer,
        "signer_name": name,
        "role": role,
        "meaning": header.meaning,
        "events": events,
    }


def receipt_lines(document: dict[str, Any]) -> list[str]:
    """The receipt's lines as a local recording command prints them (each detail described
    here from the event's payload)."""
    positions = document["positions"]
    span = (
        f"position {positions[0]}"
        if len(positions) == 1
        else f"positions {positions[0]}-{positions[-1]}"
    )
    lines = [
        f"Recorded at {span} (commit {document['commit']}, {document['meaning']} signed by "
        f"{document['signer_name']}, {document['role']}):"
    ]
    for e in document["events"]:
        detail = describe(str(e["event"]), e["payload"])
        lines.append(
            f"  {e['position']}  {e['effective_date']}  {e['event']}  {e['subject_id']}  {detail}"
        )
    return lines


def print_receipt(receipt: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(receipt)
        return
    for line in receipt_lines(receipt):
        console.print(printable(line), markup=False)


# --------------------------------------------------------------------------- recording


def _send(
    server: str,
    key: Path,
    passphrase_file: Path | None,
    send: Callable[[Any], dict[str, Any]],
    sponsor_key: Path | None = None,
) -> dict[str, Any]:
    """Open a client on ``server``, signing with ``key``, and run ``send`` with its recorder
    (with ``sponsor_key``, one that proves each proposal's head before signing)."""
    import httpx  # noqa: PLC0415 - only the remote commands talk HTTP

    from ledger.integrity.signing import read_public_key  # noqa: PLC0415
    from ledger.remote.auth import SignedRequests  # noqa: PLC0415
    from ledger.remote.record import RemoteRecorder  # noqa: PLC0415

    sponsor = read_public_key(sponsor_key) if sponsor_key is not None else None
    signer = load_signer(key, passphrase_file)
    auth = SignedRequests(signer) if sponsor is not None else None  # the head proof's reads
    with httpx.Client(base_url=server, timeout=60.0, auth=auth) as client:
        return send(RemoteRecorder(client, signer, sponsor_key=sponsor))


def remote_command(model: type[Command]) -> Callable[..., None]:
    """``remote <name>`` for ``model``: ``--server``, ``--key``, the model's options (those
    of the local command), ``--date``, ``--sponsor-key``, ``--passphrase-file``, ``--json``."""
    params = parameters(model)
    spelling = {path: option for p in params for path, option in p.spelling.items()}

    def spell(path: str) -> str:
        for candidate in (path, path.rsplit(".", 1)[0], path.split(".", 1)[0]):
            if candidate in spelling:
                return spelling[candidate]
        return path

    def command(**given: Any) -> None:
        data: dict[str, Any] = {}
        for p in params:
            p.fill(data, given[p.name])
        built = command_from(model, data, spell)
        receipt = _send(
            given["server"],
            given["key"],
            given["passphrase_file"],
            lambda recorder: recorder.record(built),
            given["sponsor_key"],
        )
        print_receipt(receipt, given["json_out"])

    keyword = inspect.Parameter.KEYWORD_ONLY
    signature = [
        inspect.Parameter("server", keyword, annotation=ServerOption),
        inspect.Parameter("key", keyword, annotation=KeyOption),
        *(
            inspect.Parameter(p.name, keyword, annotation=p.annotation, default=p.default)
            for p in params
        ),
        inspect.Parameter("sponsor_key", keyword, annotation=SponsorKeyOption, default=None),
        inspect.Parameter(
            "passphrase_file", keyword, annotation=PassphraseFileOption, default=None
        ),
        inspect.Parameter("json_out", keyword, annotation=JsonFlag, default=False),
    ]
    command.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in signature}
    command.__doc__ = (
        inspect.cleandoc(model.__doc__ or model.name)
        + f"\n\nOn a served ledger: trial-ledger remote {model.name} --server URL --key FILE "
        "and the options above; --sponsor-key PUB also proves the head the commit extends "
        "against the server's latest signed checkpoint before signing."
    )
    command.__name__ = "remote_" + model.name.replace("-", "_")
    command.__qualname__ = command.__name__
    return command


def import_file(
    file: Annotated[Path, typer.Argument(help="JSON Lines file, one command per line.")],
    server: ServerOption,
    key: KeyOption,
    sponsor_key: SponsorKeyOption = None,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Append a whole JSON Lines file on a served ledger as ONE commit signed here.

    Every line is checked by the server against the same rules as `trial-ledger import`; if
    any line is invalid the whole file is refused, listing the invalid lines by number. With
    --sponsor-key the head the commit extends is first proved against the server's latest
    signed checkpoint.

    Example: trial-ledger remote import diary-017.jsonl --server http://127.0.0.1:8080
    --key cole.key
    """
    from ledger.input_limits import read_import_lines  # noqa: PLC0415

    lines = list(read_import_lines(file))
    receipt = _send(
        server, key, passphrase_file, lambda r: r.import_lines(str(file), lines), sponsor_key
    )
    print_receipt(receipt, json_out)


def token(
    server: ServerOption,
    key: KeyOption,
    passphrase_file: PassphraseFileOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Print a token for the served ledger, obtained with a request signed by your key.

    The token stands for your key until it expires (the server's token lifetime) or your key
    is revoked; send it as Authorization: Bearer <token>.

    Example: trial-ledger remote token --server http://127.0.0.1:8080 --key mona.key --json
    """
    import httpx  # noqa: PLC0415

    from ledger.remote.auth import request_token  # noqa: PLC0415

    signer = load_signer(key, passphrase_file)
    try:
        with httpx.Client(base_url=server, timeout=30.0) as client:
            issued = request_token(client, signer)
    except httpx.HTTPError as e:
        raise StorageError(f"cannot reach the served ledger at {server}: {e}") from None
    if json_out:
        emit_json(
            {
                "token": issued.token,
                "expires_at": issued.expires_at,
                "key_id": issued.key_id,
                "role": issued.role,
                "site": issued.site,
            }
        )
        return
    console.print(issued.token, markup=False)


def wait(
    server: ServerOption,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait at most.")
    ] = 30.0,
) -> None:
    """Wait until the served ledger answers (a script that starts `serve` in the background).

    Asks GET /v1/health every 0.1 s; exit 0 as soon as it answers, 2 after --timeout.

    Example: trial-ledger remote wait --server http://127.0.0.1:8080 --timeout 30
    """
    import time  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            answer = httpx.get(f"{server.rstrip('/')}/v1/health", timeout=2.0)
            if answer.status_code == 200:
                return
            last = f"HTTP {answer.status_code}"
        except httpx.HTTPError as e:
            last = str(e) or type(e).__name__
        if time.monotonic() >= deadline:
            raise StorageError(
                f"--server {server}: the served ledger did not answer within {timeout:g} s ({last})"
            )
        time.sleep(0.1)


def register(app: typer.Typer) -> None:
    remote_app = typer.Typer(help=REMOTE_HELP, no_args_is_help=True)
    for model in COMMANDS:
        remote_app.command(model.name)(remote_command(model))
    remote_app.command("import")(import_file)
    remote_app.command("token")(token)
    remote_app.command("wait")(wait)
    app.add_typer(remote_app, name="remote")

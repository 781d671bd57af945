"""Recording over HTTP with the sponsor's key (``RemoteRecorder(..., sponsor_key=)``, ``remote
<command> --sponsor-key``): before signing, the client proves that the head a proposal extends
(its ``prev_leaf``) is in the server's latest signed checkpoint, or in a tree the server
proves extends it, from the genesis and the proofs alone (which site staff may read).

An honest server's commits go through, at the checkpoint and after it; a server that prepares
on a fork, serves a checkpoint signed by another key or a genesis of another sponsor is refused
before anything is signed, and nothing is written. The hostile servers here are a proxy
(:class:`Proxy`) in front of honest servers of the same ledger or of a fork of it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

import cli
from ledger.chain import leaf_hash_of
from ledger.domain.commands import RecordDose, RecordLab
from ledger.integrity.canonical import canonical_json
from ledger.integrity.checkpoint import parse_checkpoint, sign_checkpoint
from ledger.integrity.signing import Signer, generate_private_key, write_public_key
from ledger.recording import TrialRecorder
from ledger.remote.head_proof import HeadNotProvable, HeadUnproved
from ledger.remote.record import ProposalRefused, RemoteRecorder
from ledger.server.app import create_app
from ledger.service import TrialLedger
from tests.server.conftest import ClientFor, LiveServer
from tests.server.support import Served

SUBJECT = "MC0282-001-017"
ONE_DOSE = RecordDose(
    subject_id=SUBJECT, date=date(2003, 1, 14), drug="anakinra", dose=Decimal(100), route="SC"
)
Alter = Callable[[httpx.Request, int, bytes], tuple[int, bytes] | None]
"""(request, status, body) -> the (status, body) served instead, or None: served as it is."""


class Proxy(httpx.BaseTransport):
    """Forwards each request, as it came, to the client ``route`` picks for it (the
    recorder's own signature on the posts; the reads signed by that client), and serves what
    ``alter`` makes of the answer. ``seen``: every request, as ``METHOD path?query``."""

    def __init__(self, route: Callable[[httpx.Request], httpx.Client], alter: Alter | None = None):
        self.route, self.alter = route, alter
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")
        answer = self.route(request).send(request)
        status, body = answer.status_code, answer.read()
        altered = self.alter(request, status, body) if self.alter is not None else None
        if altered is not None:
            status, body = altered
        headers = [(k, v) for k, v in answer.headers.multi_items() if k != "content-length"]
        return httpx.Response(status, headers=headers, content=body)

    def commits_sent(self) -> int:
        return sum(1 for line in self.seen if line.startswith("POST /v1/commands/commit"))


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with TrialLedger.open(db) as ledger:
        return [(r.position, r.state, r.leaf_hash) for r in ledger.reader.iter_events()]


def _size(served: Served) -> int:
    with served.open() as ledger:
        return ledger.reader.size()


def _checkpoint_size(served: Served) -> int:
    with served.open() as ledger:
        return ledger.reader.checkpoints()[-1][0]


def _lab(served: Served, subject: str, value: str) -> None:
    """Another commit lands: a lab of ``subject`` by its site's coordinator."""
    lab = RecordLab(
        subject_id=subject, date=date(2003, 1, 15), analyte="hs_crp", value=Decimal(value),
        unit="mg/L",
    )  # fmt: skip
    with served.open() as ledger:
        TrialRecorder(ledger).record(served.signer(f"coordinator-{subject[7:10]}"), lab)


def _sign_checkpoint(served: Served) -> None:
    with served.open() as ledger:
        ledger.checkpoint(served.signer("ledger"))


def _sponsor(served: Served) -> bytes:
    return served.signer("sponsor").public_key


def _proxied(
    client_for: ClientFor,
    served: Served,
    *,
    prepare_on: Served | None = None,
    read_on: Served | None = None,
    alter: Alter | None = None,
) -> tuple[RemoteRecorder, Proxy]:
    """Cole's recorder with the sponsor key, through a proxy: the recording routes go to a
    server of ``prepare_on``, the genesis, checkpoint and proofs to a server of ``read_on``,
    read with Cole's own key (both default ``served``)."""
    posts = client_for(None, on=create_app((prepare_on or served).config()))
    reads = client_for("coordinator-001", on=create_app((read_on or served).config()))
    proxy = Proxy(lambda r: posts if r.method == "POST" else reads, alter)
    client = httpx.Client(base_url="http://testserver", transport=proxy)
    recorder = RemoteRecorder(
        client, served.signer("coordinator-001"), sponsor_key=_sponsor(served)
    )
    return recorder, proxy


# --------------------------------------------------------------------------- an honest server


def test_a_dose_commits_with_the_sponsor_key_when_the_head_is_the_checkpoint(
    served: Served, client_for: ClientFor
) -> None:
    size = _size(served)
    assert _checkpoint_size(served) == size
    recorder, proxy = _proxied(client_for, served)
    receipt = recorder.record(ONE_DOSE)
    assert receipt["positions"] == [size + 1]
    assert recorder.head_proof is not None
    assert recorder.head_proof.proved is not None
    assert recorder.head_proof.proved.size == size
    assert proxy.commits_sent() == 1
    assert cli.run(["verify", "--db", str(served.db)]) == 0


def test_a_dose_commits_with_the_sponsor_key_when_commits_landed_after_the_checkpoint(
    served: Served, client_for: ClientFor
) -> None:
    checkpointed = _size(served)
    _lab(served, "MC0282-002-001", "4.0")
    _lab(served, "MC0282-002-001", "4.1")
    size = _size(served)
    assert size > checkpointed == _checkpoint_size(served)
    recorder, proxy = _proxied(client_for, served)
    receipt = recorder.record(ONE_DOSE)
    assert receipt["positions"] == [size + 1]
    assert f"GET /v1/proof/consistency?from={checkpointed}&to={size}" in proxy.seen
    assert not [line for line in proxy.seen if line.startswith("GET /v1/log/")]
    assert cli.run(["verify", "--db", str(served.db)]) == 0


def test_a_moved_head_is_proved_again_from_the_kept_genesis_and_checkpoint(
    served: Served, client_for: ClientFor
) -> None:
    moved: list[int] = []

    def move_once(header: Any) -> None:
        if not moved:
            moved.append(header.first_position)
            _lab(served, "MC0282-002-001", "4.0")

    recorder, proxy = _proxied(client_for, served)
    recorder.check = move_once
    receipt = recorder.record(ONE_DOSE)
    assert recorder.attempts == 2
    assert receipt["positions"] == [moved[0] + 1]
    assert proxy.seen.count("GET /v1/checkpoint?") == 1
    assert proxy.seen.count("GET /v1/genesis?") == 1


def test_a_coordinator_proves_the_head_with_the_proofs_alone_and_commits(
    served: Served, client_for: ClientFor
) -> None:
    """Site staff may not read the whole log, but the genesis and the proofs name no
    subject: Cole's own client proves the head, at the checkpoint and after it."""
    cole = served.signer("coordinator-001")
    recorder = RemoteRecorder(client_for("coordinator-001"), cole, sponsor_key=_sponsor(served))
    assert client_for("coordinator-001").get("/v1/log/events").status_code == 403
    first = recorder.record(ONE_DOSE)
    assert first["positions"] == [_size(served)]
    _lab(served, "MC0282-002-001", "4.0")
    lab = RecordLab(
        subject_id=SUBJECT, date=date(2003, 1, 15), analyte="hs_crp", value=Decimal("3.2"),
        unit="mg/L",
    )  # fmt: skip
    second = recorder.record(lab)
    assert second["positions"] == [_size(served)]
    assert recorder.head_proof is not None
    assert recorder.head_proof.proved is not None
    assert recorder.head_proof.proved.size < first["positions"][0]
    assert cli.run(["verify", "--db", str(served.db)]) == 0


def test_a_key_refused_the_proofs_is_refused_before_signing_with_exit_2(
    served: Served, client_for: ClientFor
) -> None:
    def refused(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes] | None:
        if request.url.path.startswith("/v1/proof/"):
            return 403, b'{"detail": "refused"}'
        return None

    before = _rows(served.db)
    recorder, proxy = _proxied(client_for, served, alter=refused)
    with pytest.raises(HeadNotProvable, match="refuses it the genesis or the proofs") as e:
        recorder.record(ONE_DOSE)
    assert e.value.exit_code == 2
    assert proxy.commits_sent() == 0
    assert _rows(served.db) == before


def test_a_server_without_a_signed_checkpoint_is_refused_naming_the_checkpoint_key(
    served: Served, client_for: ClientFor
) -> None:
    def no_checkpoint(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes] | None:
        if request.url.path == "/v1/checkpoint":
            return 404, b'{"detail": "no checkpoint kept in the ledger yet"}'
        return None

    before = _rows(served.db)
    recorder, proxy = _proxied(client_for, served, alter=no_checkpoint)
    with pytest.raises(HeadNotProvable, match="--checkpoint-key") as refused:
        recorder.record(ONE_DOSE)
    assert refused.value.exit_code == 2
    assert proxy.commits_sent() == 0
    assert _rows(served.db) == before


# --------------------------------------------------------------------------- a hostile server


@pytest.mark.parametrize("checkpointed", [True, False], ids=["fork-checkpointed", "fork-after"])
def test_a_proposal_on_a_forked_head_is_refused_before_signing_and_nothing_is_written(
    served: Served, client_for: ClientFor, tmp_path: Path, checkpointed: bool
) -> None:
    """The server prepares on a fork (another lab at the same position) while serving the
    true log: the true leaf there is in its checkpoint (or chained from it), the fork's not."""
    (tmp_path / "fork").mkdir()
    fork = served.copy_to(tmp_path / "fork")
    _lab(served, "MC0282-002-001", "4.0")
    _lab(fork, "MC0282-002-001", "9.9")
    if checkpointed:
        _sign_checkpoint(served)
    before, fork_before = _rows(served.db), _rows(fork.db)
    recorder, proxy = _proxied(client_for, served, prepare_on=fork)
    with pytest.raises(HeadUnproved, match=f"position {_size(served)}: .* extends a fork") as e:
        recorder.record(ONE_DOSE)
    assert e.value.exit_code == 1
    assert proxy.commits_sent() == 0
    assert (_rows(served.db), _rows(fork.db)) == (before, fork_before)


def test_a_fork_served_under_the_true_checkpoint_fails_its_inclusion_proof(
    served: Served, client_for: ClientFor, tmp_path: Path
) -> None:
    """The server prepares on and serves the fork's log, but the checkpoint is the true one:
    the fork's leaf is not in the tree the checkpoint signs."""
    (tmp_path / "fork").mkdir()
    fork = served.copy_to(tmp_path / "fork")
    _lab(served, "MC0282-002-001", "4.0")
    _lab(fork, "MC0282-002-001", "9.9")
    _sign_checkpoint(served)
    true_note = _latest_note(served)

    def true_checkpoint(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes]:
        return (200, true_note.encode()) if request.url.path == "/v1/checkpoint" else (status, body)

    before = _rows(fork.db)
    recorder, proxy = _proxied(
        client_for, served, prepare_on=fork, read_on=fork, alter=true_checkpoint
    )
    with pytest.raises(HeadUnproved, match="inclusion proof of position") as e:
        recorder.record(ONE_DOSE)
    assert e.value.position == _size(fork)
    assert proxy.commits_sent() == 0
    assert _rows(fork.db) == before


def test_a_consistency_proof_that_does_not_extend_the_checkpoint_is_refused(
    served: Served, client_for: ClientFor
) -> None:
    """Commits landed after the checkpoint: the server's consistency proof from it, altered,
    no longer proves that the tree the head is in extends the signed checkpoint."""
    _lab(served, "MC0282-002-001", "4.0")
    _lab(served, "MC0282-002-001", "4.1")

    def altered(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes] | None:
        if request.url.path != "/v1/proof/consistency":
            return None
        document = json.loads(body)
        document["proof"] = [base64.b64encode(bytes(32)).decode() for _ in document["proof"]]
        return status, json.dumps(document).encode()

    before = _rows(served.db)
    recorder, proxy = _proxied(client_for, served, alter=altered)
    with pytest.raises(HeadUnproved, match="not proved to extend the checkpoint of tree size"):
        recorder.record(ONE_DOSE)
    assert proxy.commits_sent() == 0
    assert _rows(served.db) == before


def test_a_proposal_of_another_ledger_than_the_genesis_names_is_refused(
    served: Served, client_for: ClientFor
) -> None:
    def other_ledger(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes] | None:
        if request.url.path != "/v1/commands/prepare":
            return None
        document = json.loads(body)
        document["header"]["ledger_id"] = document["header"]["ledger_id"][::-1]
        return status, json.dumps(document).encode()

    before = _rows(served.db)
    recorder, proxy = _proxied(client_for, served, alter=other_ledger)
    with pytest.raises(ProposalRefused, match=r"not [-\w]+ \(the ledger the genesis names\)"):
        recorder.record(ONE_DOSE)
    assert proxy.commits_sent() == 0
    assert _rows(served.db) == before


def _latest_note(served: Served) -> str:
    with served.open() as ledger:
        return ledger.reader.checkpoints()[-1][1]


def test_a_checkpoint_signed_by_another_key_is_refused_before_signing(
    served: Served, client_for: ClientFor
) -> None:
    impostor = Signer(generate_private_key())

    def resigned(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes] | None:
        if request.url.path != "/v1/checkpoint":
            return None
        checkpoint = parse_checkpoint(body.decode())[0]
        return 200, sign_checkpoint(checkpoint, checkpoint.origin, impostor).encode()

    before = _rows(served.db)
    recorder, proxy = _proxied(client_for, served, alter=resigned)
    with pytest.raises(HeadUnproved, match=f"position {_size(served)}: .*not signed by the ledger"):
        recorder.record(ONE_DOSE)
    assert proxy.commits_sent() == 0
    assert _rows(served.db) == before


def _genesis_rewritten(change: Callable[[dict[str, Any]], None]) -> Alter:
    """The genesis answer with position 1's state changed by ``change`` and its leaf
    recomputed (a consistent lie about the genesis)."""

    def alter(request: httpx.Request, status: int, body: bytes) -> tuple[int, bytes] | None:
        if request.url.path != "/v1/genesis":
            return None
        document = json.loads(body)
        first = document["event"]
        state = json.loads(first["state"])
        change(state)
        first["state"] = canonical_json(state).decode()
        first["leaf_hash"] = leaf_hash_of(
            commit=first["commit"], originator_id=first["originator_id"],
            originator_version=first["originator_version"], position=1, prev=bytes(32),
            state=first["state"].encode(), topic=first["topic"],
        ).hex()  # fmt: skip
        return status, json.dumps(document).encode()

    return alter


def _impostor_key(state: dict[str, Any], member: str, signer: Signer) -> None:
    public = base64.b64encode(signer.public_key).decode()
    if member == "sponsor":
        state["sponsor"].update(public_key=public, key_id=signer.key_id)
    else:
        state.update(ledger_public_key=public, ledger_key_id=signer.key_id)


@pytest.mark.parametrize(
    ("member", "refusal"),
    [
        ("sponsor", "position 1: the served ledger is rooted in sponsor key"),
        ("ledger", "position 1: commit 1's header does not root the genesis event's leaf"),
    ],
    ids=["another-sponsor", "another-ledger-key"],
)
def test_a_genesis_of_another_sponsor_or_ledger_key_is_refused_before_signing(
    served: Served, client_for: ClientFor, member: str, refusal: str
) -> None:
    impostor = Signer(generate_private_key())
    alter = _genesis_rewritten(lambda state: _impostor_key(state, member, impostor))
    before = _rows(served.db)
    recorder, proxy = _proxied(client_for, served, alter=alter)
    with pytest.raises(HeadUnproved, match=refusal):
        recorder.record(ONE_DOSE)
    assert proxy.commits_sent() == 0
    assert _rows(served.db) == before


# --------------------------------------------------------------------------- the CLI


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _key(served: Served, label: str) -> list[str]:
    return ["--key", str(served.key_files[label]), "--passphrase-file", str(served.passphrase_file)]


def _review(served: Served) -> list[str]:
    with served.open() as ledger:
        mine = [
            r.position for r in ledger.reader.iter_events() if SUBJECT.encode() in bytes(r.state)
        ]
    return [
        "--subject", SUBJECT, "--positions", str(mine[-1]), "--meaning", "review",
        "--statement", "source data verified", "--date", "2003-01-17",
    ]  # fmt: skip


def _public(path: Path, public: bytes) -> Path:
    write_public_key(path, public)
    return path


def _without_time(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "recorded_at"}


def test_the_cli_with_the_sponsor_key_prints_the_receipt_it_prints_without(
    served: Served, live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other").mkdir()
    other = served.copy_to(tmp_path / "other")
    plain, proved = live_server(served.config()), live_server(other.config())
    review = ["remote", "sign", *_key(served, "monitor"), *_review(served)]
    sponsor = ["--sponsor-key", str(_public(tmp_path / "sponsor.pub", _sponsor(served)))]
    without = _run(capsys, [*review, "--server", plain])
    with_key = _run(capsys, [*review, "--server", proved, *sponsor])
    assert without[0] == with_key[0] == 0, with_key[2]
    assert with_key[1] == without[1]
    assert with_key[1].startswith("Recorded at position ")
    as_json = [*review[:-2], "--date", "2003-01-18", "--json"]
    plain_json, proved_json = (
        json.loads(_run(capsys, [*as_json, "--server", url, *extra])[1])
        for url, extra in ((plain, []), (proved, sponsor))
    )
    assert _without_time(proved_json) == _without_time(plain_json)
    assert proved_json["meaning"] == "review"
    assert cli.run(["verify", "--db", str(other.db), "--sponsor-key", sponsor[1]]) == 0


def test_the_cli_refuses_a_ledger_of_another_sponsor_in_one_line_and_exit_1(
    served: Served, live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = live_server(served.config())
    impostor = Signer(generate_private_key()).public_key
    before = _rows(served.db)
    code, out, err = _run(
        capsys,
        [
            "remote", "sign", "--server", url, *_key(served, "monitor"), *_review(served),
            "--sponsor-key", str(_public(tmp_path / "impostor.pub", impostor)),
        ],
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert "not signed: the head it extends is not proved at position 1" in err
    assert len(err.strip().splitlines()) == 1
    assert _rows(served.db) == before


def test_the_cli_dose_and_import_with_the_sponsor_key_of_site_staff_commit(
    served: Served, live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = live_server(served.config())
    sponsor = ["--sponsor-key", str(_public(tmp_path / "sponsor.pub", _sponsor(served)))]
    cole = ["--server", url, *_key(served, "coordinator-001"), *sponsor]
    dose = ["--subject", SUBJECT, "--drug", "anakinra", "--dose", "100", "--route", "SC"]
    code, out, err = _run(capsys, ["remote", "dose", *cole, *dose, "--date", "2003-01-14"])
    assert code == 0, err
    assert out.startswith(f"Recorded at position {_size(served)} ")
    diary = tmp_path / "diary.jsonl"
    line = {"command": "dose", "subject_id": SUBJECT, "date": "2003-01-15", "drug": "anakinra",
            "dose": 100, "route": "SC"}  # fmt: skip
    diary.write_text(json.dumps(line) + "\n", encoding="utf-8")
    code, out, err = _run(capsys, ["remote", "import", str(diary), *cole])
    assert code == 0, err
    assert "DoseAdministered" in out
    assert cli.run(["verify", "--db", str(served.db), "--sponsor-key", sponsor[1]]) == 0


def test_the_cli_import_with_the_sponsor_key_prints_the_receipt_it_prints_without(
    served: Served, live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other").mkdir()
    other = served.copy_to(tmp_path / "other")
    plain, proved = live_server(served.config()), live_server(other.config())
    with served.open() as ledger:
        labs = [r for r in ledger.reader.iter_events() if r.topic.endswith("LabResulted.v1")]
    (lab,) = [r.position for r in labs if SUBJECT.encode() in bytes(r.state)]
    diary = tmp_path / "corrections.jsonl"
    line = {"command": "correct", "subject_id": SUBJECT, "date": "2003-01-16", "position": lab,
            "field": "value", "old_value": "3.0", "new_value": "3.2",
            "reason": "source document re-read"}  # fmt: skip
    diary.write_text(json.dumps(line) + "\n", encoding="utf-8")
    remote = ["remote", "import", str(diary), *_key(served, "data-manager")]
    sponsor = ["--sponsor-key", str(_public(tmp_path / "sponsor.pub", _sponsor(served)))]
    without = _run(capsys, [*remote, "--server", plain])
    with_key = _run(capsys, [*remote, "--server", proved, *sponsor])
    assert without[0] == with_key[0] == 0, with_key[2]
    assert with_key[1] == without[1]
    assert "CorrectionRecorded" in with_key[1]


def test_a_proposal_that_rewinds_below_the_signed_checkpoint_is_refused_before_signing(
    served: Served, client_for: ClientFor, tmp_path: Path
) -> None:
    """The server prepares on an older copy of its own ledger: the leaf the commit extends is
    the true one (in the checkpoint), but the checkpoint holds events after it, which the
    commit would cut off."""
    (tmp_path / "old").mkdir()
    old = served.copy_to(tmp_path / "old")
    position = _size(old)
    _lab(served, "MC0282-002-001", "4.0")
    _lab(served, "MC0282-002-001", "4.1")
    _sign_checkpoint(served)
    assert _checkpoint_size(served) == position + 2
    before, old_before = _rows(served.db), _rows(old.db)
    recorder, proxy = _proxied(client_for, served, prepare_on=old)
    with pytest.raises(HeadUnproved, match=r"would cut off the 2 after it \(a rewind fork\)"):
        recorder.record(ONE_DOSE)
    assert proxy.commits_sent() == 0
    assert (_rows(served.db), _rows(old.db)) == (before, old_before)

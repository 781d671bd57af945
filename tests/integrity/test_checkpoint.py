"""C2SP signed-note checkpoints: round trip, tampering, foreign keys, strict parsing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger.errors import CheckpointError, SignatureError
from ledger.integrity.checkpoint import (
    Checkpoint,
    key_hash,
    parse_checkpoint,
    sign_checkpoint,
    split_note,
    verify_checkpoint,
)
from ledger.integrity.merkle import leaf_hash
from ledger.integrity.signing import (
    Signer,
    generate_private_key,
    key_id,
    public_key_bytes,
    verify_signature,
)

# golang.org/x/mod/sumdb/note documentation example: a signed note and its verifier key.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
NAME = "ledger.example/nct00635154"
KEY = generate_private_key()
PUBLIC = public_key_bytes(KEY)
ROOT = leaf_hash(b"root")
CHECKPOINT = Checkpoint(NAME, 1234, ROOT, datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC))
NOTE = sign_checkpoint(CHECKPOINT, NAME, KEY)
ROOT_B64 = base64.b64encode(ROOT).decode()
BODY = f"{NAME}\n1234\n{ROOT_B64}\ntime 2025-03-04T05:06:07Z\n"


def _signature_line(note: str) -> str:
    return note.rsplit("\n\n", 1)[1]


def test_verifies_go_signed_note_documentation_example() -> None:
    name, hash_hex, encoded = GO_VKEY.split("+")
    public = base64.b64decode(encoded)[1:]
    text, signatures = split_note(GO_NOTE)
    assert key_hash(name, public).hex() == hash_hex == signatures[0].key_hash.hex()
    verify_signature(public, text.encode(), signatures[0].signature)


def test_body_is_origin_size_root_and_time_lines() -> None:
    assert CHECKPOINT.body() == BODY.encode()
    assert NOTE.startswith(BODY + "\n\u2014 " + NAME + " ")


def test_signed_checkpoint_round_trips() -> None:
    assert verify_checkpoint(NOTE, NAME, PUBLIC) == CHECKPOINT
    checkpoint, signatures = parse_checkpoint(NOTE)
    assert checkpoint == CHECKPOINT
    assert [(s.key_name, s.key_hash, len(s.signature)) for s in signatures] == [
        (NAME, key_hash(NAME, PUBLIC), 64)
    ]


def test_signer_object_signs_the_same_note() -> None:
    assert sign_checkpoint(CHECKPOINT, NAME, Signer(KEY)) == NOTE


def test_empty_tree_checkpoint_round_trips() -> None:
    empty = Checkpoint(NAME, 0, ROOT, datetime(1999, 1, 1, tzinfo=UTC))
    assert verify_checkpoint(sign_checkpoint(empty, NAME, KEY), NAME, PUBLIC) == empty


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n1234\n", "\n1235\n"),
        (ROOT_B64, base64.b64encode(leaf_hash(b"other")).decode()),
        ("05:06:07Z", "05:06:08Z"),
        (NAME + "\n", "ledger.example/other\n"),
    ],
    ids=["size", "root", "time", "origin"],
)
def test_rejects_checkpoint_with_altered_body(old: str, new: str) -> None:
    with pytest.raises(SignatureError, match=f"signature by key {key_id(PUBLIC)} does not verify"):
        verify_checkpoint(NOTE.replace(old, new, 1), NAME, PUBLIC)


def test_rejects_signature_by_another_key() -> None:
    other = generate_private_key()
    with pytest.raises(CheckpointError, match=f"expected a signature by {NAME}\\+"):
        verify_checkpoint(sign_checkpoint(CHECKPOINT, NAME, other), NAME, PUBLIC)


def test_rejects_note_lacking_the_requested_key_name() -> None:
    with pytest.raises(CheckpointError, match=f"found {NAME}\\+{key_hash(NAME, PUBLIC).hex()}"):
        verify_checkpoint(NOTE, "someone.else/log", PUBLIC)


def test_ignores_unknown_signature_lines_and_verifies_the_known_one() -> None:
    witness = sign_checkpoint(CHECKPOINT, "witness.example/w1", generate_private_key())
    impostor = sign_checkpoint(CHECKPOINT, NAME, generate_private_key())  # same name, other ID
    note = (
        BODY + "\n" + _signature_line(witness) + _signature_line(impostor) + _signature_line(NOTE)
    )
    assert len(parse_checkpoint(note)[1]) == 3
    assert verify_checkpoint(note, NAME, PUBLIC) == CHECKPOINT


def test_rejects_note_where_one_of_two_signatures_by_the_key_is_bad() -> None:
    line = _signature_line(NOTE)
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[-1] ^= 1
    forged = f"\u2014 {NAME} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(SignatureError, match="does not verify"):
        verify_checkpoint(NOTE + forged, NAME, PUBLIC)


SIGNATURE_LINE = _signature_line(NOTE)
EM = "\u2014"
MALFORMED = {
    "no-final-newline": (NOTE[:-1], "signature lines ending in newline"),
    "no-signature-block": (BODY, "expected text, a blank line"),
    "empty-signature-block": (BODY + "\n\n", "line 7: expected '— <key name> <base64>'; found ''"),
    "crlf": (
        NOTE.replace("\n", "\r\n"),
        r"expected no control characters but newline; found '\\r'",
    ),
    "size-leading-zero": (NOTE.replace("\n1234\n", "\n01234\n"), "line 2: .* found '01234'"),
    "size-negative": (NOTE.replace("\n1234\n", "\n-1\n"), "line 2: expected a tree size"),
    "size-plus-sign": (NOTE.replace("\n1234\n", "\n+1234\n"), "line 2: expected a tree size"),
    "size-arabic-digits": (NOTE.replace("\n1234\n", "\n\u0661\u0662\n"), "line 2: expected"),
    "size-too-large": (NOTE.replace("\n1234\n", f"\n{2**64}\n"), r"line 2: .* < 2\*\*64"),
    "root-unpadded": (NOTE.replace(ROOT_B64, ROOT_B64.rstrip("=")), "line 3: expected canonical"),
    "root-31-bytes": (
        NOTE.replace(ROOT_B64, base64.b64encode(ROOT[:31]).decode()),
        "line 3: expected a 32-byte root; found 31",
    ),
    "origin-empty": (NOTE.replace(NAME + "\n1234", "\n1234", 1), "line 1: expected a non-empty"),
    "time-missing": (
        NOTE.replace("time 2025-03-04T05:06:07Z\n", ""),
        "expected 4 lines .* found 3",
    ),
    "extra-extension": (NOTE.replace("07Z\n", "07Z\nextra\n", 1), "expected 4 lines .* found 5"),
    "time-fraction": (NOTE.replace("07Z\n", "07.5Z\n", 1), "line 4: expected 'time YYYY-MM-DDTH"),
    "time-offset": (NOTE.replace("07Z\n", "07+00:00\n", 1), "line 4: expected 'time"),
    "time-invalid-date": (NOTE.replace("2025-03-04", "2025-02-30"), "line 4: expected 'time"),
    "time-keyword": (NOTE.replace("time ", "Time ", 1), "line 4: expected 'time"),
    "hyphen-not-em-dash": (NOTE.replace(f"{EM} ", "- "), "line 6: expected '— <key name>"),
    "key-name-plus": (
        NOTE.replace(f"{EM} {NAME} ", f"{EM} {NAME}+x "),
        "line 6: expected a non-empty key name",
    ),
    "double-space": (
        NOTE.replace(f"{EM} {NAME} ", f"{EM} {NAME}  "),
        "line 6: expected canonical standard base64",
    ),
    "signature-too-short": (BODY + f"\n{EM} k AAAA\n", "line 6: .* found 3 bytes"),
    "too-many-signatures": (NOTE + SIGNATURE_LINE * 100, "at most 100 signatures; found 101"),
    "lone-surrogate": (NOTE.replace(NAME + "\n", "\ud800\n", 1), "expected valid UTF-8"),
}


@pytest.mark.parametrize(("note", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_rejects_malformed_note(note: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        parse_checkpoint(note)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"origin": ""}, "origin: expected non-empty text"),
        ({"origin": "a\nb"}, "origin: expected non-empty text, one line"),
        ({"tree_size": -1}, "tree size: expected 0 <= size < 2\\*\\*64; found -1"),
        ({"root": ROOT[:31]}, "root: expected 32 bytes; found 31"),
        ({"time": datetime(2025, 1, 1)}, "time: expected UTC with whole seconds"),
        ({"time": datetime(2025, 1, 1, 0, 0, 0, 5, tzinfo=UTC)}, "time: expected UTC with whole"),
        ({"time": datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=1)))}, "time: expected UTC"),
    ],
)
def test_refuses_to_build_checkpoint_that_cannot_be_written_exactly(
    fields: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {
        "origin": NAME,
        "tree_size": 1,
        "root": ROOT,
        "time": CHECKPOINT.time,
    }
    with pytest.raises(CheckpointError, match=message):
        Checkpoint(**values | fields)  # type: ignore[arg-type]


def test_refuses_to_sign_with_key_name_containing_space() -> None:
    with pytest.raises(CheckpointError, match="signing key name: expected a non-empty key name"):
        sign_checkpoint(CHECKPOINT, "bad name", KEY)

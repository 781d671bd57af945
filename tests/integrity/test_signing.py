"""Ed25519 signing and key files: RFC 8032 vector, file modes, refusals, tamper properties."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import KeyFileError, SignatureError
from ledger.integrity.signing import (
    Signer,
    generate_private_key,
    key_id,
    public_key_bytes,
    read_private_key,
    read_public_key,
    sign,
    verify_signature,
    write_private_key,
    write_public_key,
)

# RFC 8032 §7.1, TEST 1 (empty message).
RFC8032_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
    "d25bf5f0595bbe24655141438e7a100b"
)
PASSPHRASE = b"correct horse battery staple"
KEY = generate_private_key()
PUBLIC = public_key_bytes(KEY)
MESSAGE = b"SubjectEnrolled NCT00635154-0042"
SIGNATURE = sign(KEY, MESSAGE)


def _write_0600(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def test_signs_rfc8032_test_vector_1() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_SECRET))
    assert public_key_bytes(key).hex() == RFC8032_PUBLIC
    assert sign(key, b"").hex() == RFC8032_SIGNATURE
    verify_signature(bytes.fromhex(RFC8032_PUBLIC), b"", bytes.fromhex(RFC8032_SIGNATURE))


def test_key_id_is_prefix_of_sha256_of_raw_public_key() -> None:
    assert re.fullmatch("ed25519:[0-9a-f]{32}", key_id(PUBLIC))
    assert key_id(PUBLIC) == "ed25519:" + hashlib.sha256(PUBLIC).hexdigest()[:32]


def test_public_key_bytes_is_the_same_for_private_and_public_key() -> None:
    assert public_key_bytes(KEY) == public_key_bytes(KEY.public_key())
    assert len(PUBLIC) == 32


def test_private_key_round_trips_through_encrypted_file_of_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "site01.key"
    write_private_key(path, KEY, PASSPHRASE)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = read_private_key(path, PASSPHRASE)
    verify_signature(PUBLIC, MESSAGE, sign(loaded, MESSAGE))


def test_refuses_to_overwrite_existing_private_key_file(tmp_path: Path) -> None:
    path = tmp_path / "site01.key"
    path.write_bytes(b"precious")
    with pytest.raises(KeyFileError, match=f"key file {re.escape(str(path))} already exists"):
        write_private_key(path, KEY, PASSPHRASE)
    assert path.read_bytes() == b"precious"


def test_refuses_empty_passphrase(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="expected a non-empty passphrase"):
        write_private_key(tmp_path / "k", KEY, b"")
    assert not (tmp_path / "k").exists()


def test_refuses_missing_private_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"key file .*absent\.key does not exist"):
        read_private_key(tmp_path / "absent.key", PASSPHRASE)


def test_refuses_private_key_file_readable_by_group_or_other(tmp_path: Path) -> None:
    path = tmp_path / "site01.key"
    write_private_key(path, KEY, PASSPHRASE)
    path.chmod(0o644)
    expected = f"key file {path} has mode 0644; expected 0600 (chmod 600 {path})"
    with pytest.raises(KeyFileError, match=re.escape(expected)):
        read_private_key(path, PASSPHRASE)


def test_refuses_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "site01.key"
    write_private_key(path, KEY, PASSPHRASE)
    with pytest.raises(KeyFileError, match=r"site01\.key: wrong passphrase"):
        read_private_key(path, b"guess")


def test_refuses_unencrypted_private_key_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.key"
    plain = KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_0600(path, plain)
    with pytest.raises(KeyFileError, match="expected an encrypted PKCS #8 PEM private key"):
        read_private_key(path, PASSPHRASE)


def test_refuses_private_key_that_is_not_ed25519(tmp_path: Path) -> None:
    path = tmp_path / "ec.key"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE),
    )
    _write_0600(path, pem)
    with pytest.raises(KeyFileError, match=r"holds a \w+; expected an Ed25519 key"):
        read_private_key(path, PASSPHRASE)


def test_public_key_round_trips_through_pem_file(tmp_path: Path) -> None:
    path = tmp_path / "site01.pub"
    write_public_key(path, PUBLIC)
    assert path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert read_public_key(path) == PUBLIC


def test_refuses_to_overwrite_existing_public_key_file(tmp_path: Path) -> None:
    path = tmp_path / "site01.pub"
    write_public_key(path, PUBLIC)
    with pytest.raises(KeyFileError, match="already exists; refusing to overwrite"):
        write_public_key(path, public_key_bytes(generate_private_key()))


def test_refuses_public_key_file_that_is_not_pem(tmp_path: Path) -> None:
    path = tmp_path / "junk.pub"
    path.write_text("not a key\n")
    with pytest.raises(KeyFileError, match="expected a PEM SubjectPublicKeyInfo"):
        read_public_key(path)


def test_refuses_public_key_file_that_is_not_ed25519(tmp_path: Path) -> None:
    path = tmp_path / "ec.pub"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFileError, match="expected an Ed25519 key"):
        read_public_key(path)


def test_rejects_tampered_signature_naming_key_and_length() -> None:
    bad = bytes([SIGNATURE[0] ^ 1]) + SIGNATURE[1:]
    expected = f"signature by key {key_id(PUBLIC)} does not verify over {len(MESSAGE)} bytes"
    with pytest.raises(SignatureError, match=re.escape(expected)):
        verify_signature(PUBLIC, MESSAGE, bad)


def test_rejects_truncated_signature() -> None:
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(PUBLIC, MESSAGE, SIGNATURE[:-1])


def test_rejects_public_key_of_wrong_length() -> None:
    with pytest.raises(SignatureError, match="expected 32 raw bytes; found 31"):
        verify_signature(PUBLIC[:-1], MESSAGE, SIGNATURE)


@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_of_message_fails(position: int, delta: int) -> None:
    at = position % len(MESSAGE)
    changed = MESSAGE[:at] + bytes([(MESSAGE[at] + delta) % 256]) + MESSAGE[at + 1 :]
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(PUBLIC, changed, SIGNATURE)


@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_of_signature_fails(position: int, delta: int) -> None:
    at = position % len(SIGNATURE)
    changed = SIGNATURE[:at] + bytes([(SIGNATURE[at] + delta) % 256]) + SIGNATURE[at + 1 :]
    with pytest.raises(SignatureError, match="does not verify"):
        verify_signature(PUBLIC, MESSAGE, changed)


def test_signer_signs_with_its_key_and_exposes_public_identity() -> None:
    signer = Signer(KEY)
    assert (signer.key_id, signer.public_key) == (key_id(PUBLIC), PUBLIC)
    verify_signature(signer.public_key, MESSAGE, signer.sign(MESSAGE))


def test_signer_loads_from_key_file(tmp_path: Path) -> None:
    path = tmp_path / "site01.key"
    write_private_key(path, KEY, PASSPHRASE)
    assert Signer.from_key_file(path, PASSPHRASE).public_key == PUBLIC


def test_signer_repr_hides_private_key() -> None:
    secret = KEY.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    text = repr(Signer(KEY))
    assert text == f"Signer(key_id={key_id(PUBLIC)!r})"
    assert secret.hex() not in text
    assert "Private" not in text


def test_signer_cannot_be_pickled_copied_or_json_encoded() -> None:
    signer = Signer(KEY)
    with pytest.raises(TypeError, match="cannot be pickled or copied"):
        pickle.dumps(signer)
    with pytest.raises(TypeError, match="cannot be pickled or copied"):
        copy.deepcopy(signer)
    with pytest.raises(TypeError, match="not JSON serializable"):
        json.dumps(signer)


def test_signer_is_immutable() -> None:
    signer = Signer(KEY)
    with pytest.raises(AttributeError, match="Signer is immutable; cannot set key_id"):
        signer.key_id = "ed25519:forged"
    with pytest.raises(AttributeError, match="Signer is immutable; cannot delete public_key"):
        del signer.public_key

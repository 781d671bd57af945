"""Ed25519 signing (RFC 8032) and key files at rest.

* Private keys are stored as encrypted PKCS #8 PEM (``BestAvailableEncryption``), created with
  ``os.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)`` so that an existing file is never
  overwritten and the key is never readable by group or other, even briefly. Reading refuses a
  file whose mode grants any group/other permission, like OpenSSH does
  (:func:`check_owner_only`, which the command line also holds passphrase files to).
* Public keys are stored as SubjectPublicKeyInfo PEM (RFC 8410), also never overwritten; in
  memory and in the ledger they are the raw 32 bytes.
* ``key_id(raw) = "ed25519:" + hex(SHA-256(raw))[:32]`` (128 bits): a stable, printable name for
  a public key in errors and records. The signed-note key hash used in checkpoints is separate
  (see :mod:`ledger.integrity.checkpoint`).
* :func:`verify_signature` caches parsed public keys by their raw bytes, since verification runs
  once per commit across large ledgers.
* :class:`Signer` bundles a private key with its public key and key id; its ``repr`` omits the
  private key and it refuses pickling, so it cannot leak into logs or serialised state.

Failures raise :class:`~ledger.errors.KeyFileError` (files) or
:class:`~ledger.errors.SignatureError` (signatures and malformed public keys).
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import KeyFileError, SignatureError

__all__ = [
    "Signer",
    "check_owner_only",
    "generate_private_key",
    "key_id",
    "public_key_bytes",
    "read_private_key",
    "read_public_key",
    "sign",
    "verify_signature",
    "write_private_key",
    "write_public_key",
]

PUBLIC_KEY_SIZE = 32
_ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key of a private or public key object."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key_raw: bytes) -> str:
    """``"ed25519:"`` + the first 32 hex digits of SHA-256 of the raw public key."""
    _check_public_raw(public_key_raw)
    return "ed25519:" + hashlib.sha256(public_key_raw).hexdigest()[:32]


def _check_public_raw(public_raw: bytes) -> None:
    if len(public_raw) != PUBLIC_KEY_SIZE:
        raise SignatureError(
            f"Ed25519 public key: expected {PUBLIC_KEY_SIZE} raw bytes; found {len(public_raw)}"
        )


def _create_exclusive(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite it") from None
    except OSError as error:
        raise KeyFileError(f"cannot create key file {path}: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        path.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write key file {path}: {error.strerror}") from None


def write_private_key(path: Path, key: Ed25519PrivateKey, passphrase: bytes) -> None:
    """Write ``key`` as passphrase-encrypted PKCS #8 PEM to a new file of mode 0600."""
    if not passphrase:
        raise KeyFileError(f"refusing to write {path}: expected a non-empty passphrase")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    _create_exclusive(path, pem, 0o600)


def check_owner_only(path: Path, mode: int, what: str = "key file", rule: str = "") -> None:
    """Refuse a secret's file whose permission bits ``mode`` grant group or other anything."""
    if mode & 0o077:
        raise KeyFileError(
            f"{what} {path} has mode {mode:04o}; expected 0600 (chmod 600 {path})"
            + (f": {rule}" if rule else "")
        )


KEY_FILE_LIMIT = 64 * 1024
"""A PEM Ed25519 key is a few hundred bytes; a key file is never read past this."""


def _read_key_file(path: Path, *, private: bool) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} does not exist") from None
    except OSError as error:
        raise KeyFileError(f"cannot open key file {path}: {error.strerror}") from None
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise KeyFileError(f"key file {path}: expected a regular file (it is not one)")
    with os.fdopen(fd, "rb") as handle:
        if private:
            check_owner_only(path, stat.S_IMODE(status.st_mode))
        data = handle.read(KEY_FILE_LIMIT + 1)
    if len(data) > KEY_FILE_LIMIT:
        raise KeyFileError(f"key file {path}: over {KEY_FILE_LIMIT:,} bytes, so no key file")
    return data


def _refuse_key(path: Path, found: object) -> NoReturn:
    raise KeyFileError(f"key file {path} holds {found}; expected an Ed25519 key")


def read_private_key(path: Path, passphrase: bytes) -> Ed25519PrivateKey:
    """Load an encrypted PKCS #8 PEM Ed25519 key from a file readable by its owner only."""
    pem = _read_key_file(path, private=True)
    if not pem.lstrip().startswith(_ENCRYPTED_PEM):
        raise KeyFileError(f"key file {path}: expected an encrypted PKCS #8 PEM private key")
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except (ValueError, TypeError):
        raise KeyFileError(f"key file {path}: wrong passphrase (cannot decrypt the key)") from None
    except UnsupportedAlgorithm:
        _refuse_key(path, "a key of an unsupported algorithm")
    if not isinstance(key, Ed25519PrivateKey):
        _refuse_key(path, f"a {type(key).__name__}")
    return key


def write_public_key(path: Path, public_raw: bytes) -> None:
    """Write the raw public key as SubjectPublicKeyInfo PEM to a new file (mode 0644)."""
    public = _load_public(public_raw)
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _create_exclusive(path, pem, 0o644)


def read_public_key(path: Path) -> bytes:
    """Load a SubjectPublicKeyInfo PEM Ed25519 public key; return its raw 32 bytes."""
    pem = _read_key_file(path, private=False)
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise KeyFileError(f"key file {path}: expected a PEM SubjectPublicKeyInfo") from None
    except UnsupportedAlgorithm:
        _refuse_key(path, "a key of an unsupported algorithm")
    if not isinstance(key, Ed25519PublicKey):
        _refuse_key(path, f"a {type(key).__name__}")
    return public_key_bytes(key)


def sign(private_key: Ed25519PrivateKey, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message``."""
    return private_key.sign(message)


@functools.lru_cache(maxsize=1024)
def _load_public(public_raw: bytes) -> Ed25519PublicKey:
    _check_public_raw(public_raw)
    return Ed25519PublicKey.from_public_bytes(public_raw)


def verify_signature(public_raw: bytes, message: bytes, signature: bytes) -> None:
    """Return None if ``signature`` is ``public_raw``'s Ed25519 signature over ``message``."""
    try:
        _load_public(bytes(public_raw)).verify(signature, message)
    except InvalidSignature:
        raise SignatureError(
            f"signature by key {key_id(public_raw)} does not verify over {len(message)} bytes"
        ) from None


class Signer:
    """An Ed25519 private key with its raw public key and key id; immutable, never serialised."""

    __slots__ = ("_private_key", "key_id", "public_key")
    key_id: str
    public_key: bytes
    _private_key: Ed25519PrivateKey

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        public_raw = public_key_bytes(private_key)
        object.__setattr__(self, "_private_key", private_key)
        object.__setattr__(self, "public_key", public_raw)
        object.__setattr__(self, "key_id", key_id(public_raw))

    @classmethod
    def from_key_file(cls, path: Path, passphrase: bytes) -> Signer:
        return cls(read_private_key(path, passphrase))

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Signer is immutable; cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Signer is immutable; cannot delete {name}")

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("Signer holds a private key and cannot be pickled or copied")

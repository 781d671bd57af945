"""Key files the commands write: an encrypted private key at FILE (mode 0600), its public half
at FILE.pub; never over an existing file, and removed again when what they were for is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ledger.cli.common import read_passphrase
from ledger.errors import UsageError
from ledger.integrity.signing import (
    Signer,
    generate_private_key,
    public_key_bytes,
    read_public_key,
    write_private_key,
    write_public_key,
)


def public_path(out: Path) -> Path:
    """Where the public half of the key file ``out`` is written: ``out.pub``."""
    return out.with_name(out.name + ".pub")


def new_key_file(out: Path, passphrase_file: Path | None) -> Signer:
    """Generate a key pair: private key encrypted at ``out`` (0600), public key at ``out.pub``."""
    pub = public_path(out)
    if out.exists() or pub.exists():
        raise UsageError(
            f"--out {out}: key file (or {pub.name}) already exists; refusing to overwrite"
        )
    passphrase = read_passphrase(passphrase_file, f"new key file {out}")
    private = generate_private_key()
    write_private_key(out, private, passphrase)
    write_public_key(pub, public_key_bytes(private))
    return Signer(private)


@contextmanager
def public_for(
    public_key: Path | None, out: Path | None, passphrase_file: Path | None
) -> Iterator[bytes]:
    """The public key to register: read from --public-key, or a new key pair written at --out.

    A new key pair is removed again if the registration that follows is refused, so a refused
    command leaves nothing behind.
    """
    if (public_key is None) == (out is None):
        raise UsageError(
            "give exactly one of --public-key FILE (an existing key) or --out FILE (a new key)"
        )
    if public_key is not None:
        yield read_public_key(public_key)
        return
    assert out is not None
    raw = new_key_file(out, passphrase_file).public_key
    try:
        yield raw
    except BaseException:
        out.unlink(missing_ok=True)
        public_path(out).unlink(missing_ok=True)
        raise

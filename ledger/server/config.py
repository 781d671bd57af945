"""What one server is started with (:class:`ServerConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.store.location import StoreTarget


@dataclass(frozen=True)
class ServerConfig:
    """The ledger served and the server's own settings.

    ``views``: the projections' views store (None: the default beside the ledger, as the
    CLI's ``--views``). ``access_log``: where reads by persons are recorded (None: the
    default beside the ledger). ``checkpoint_key``: the ledger key file, when this server
    also signs a checkpoint after new commits (every ``checkpoint_every`` seconds at most).
    """

    db: StoreTarget
    record_db: StoreTarget | None = None
    """Where recording commands append, when not through ``db``: on PostgreSQL the server
    reads (and keeps its views and log of reads) as the reader role, and records as the
    writer role of the same database."""
    views: Path | None = None
    access_log: Path | None = None
    checkpoint_key: Path | None = None
    checkpoint_passphrase: bytes | None = None
    checkpoint_every: float = 5.0
    signature_max_age: int = 60
    """Seconds a signed request's ``created`` may lie in the past (or the future: clock
    skew); a nonce is remembered for as long, so a replay is refused."""
    token_lifetime: int = 900
    """Seconds a token obtained by a signed request lives."""
    poll_interval: float = 0.1
    """Seconds between two looks at the ledger's head (the feed, the views, checkpoints)."""
    threads: int = 8
    """Worker threads answering requests (the synchronous routes). More only contend for the
    interpreter: with 40 (the default of anyio) a busy server starved its event loop, and the
    feed's commit-to-client latency grew tenfold (bench/bench_serve.py)."""
    page_size: int = 1000
    """Default and maximum items per page of a listing."""

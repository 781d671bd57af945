"""What a running server shares between requests (:class:`ServerState`): one ledger reader
per worker thread, and the key registry, re-proved whenever the trial stream changed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger.registry import KeyRegistry
from ledger.server.config import ServerConfig
from ledger.service import TRIAL_STREAM
from ledger.store import LedgerReader
from ledger.verify import proved_registry


class ServerState:
    """Readers, the registry and the parts each router keeps (``extensions``)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._local = threading.local()
        self._readers: list[LedgerReader] = []
        self._lock = threading.Lock()
        self._registry: KeyRegistry | None = None
        self.extensions: dict[str, Any] = {}
        """Each router's own long-lived parts (the feed's hub, the token store, ...), by name."""

    def reader(self) -> LedgerReader:
        """This thread's reader of the served ledger (opened on first use)."""
        reader: LedgerReader | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = LedgerReader(self.config.db)
            self._local.reader = reader
            with self._lock:
                self._readers.append(reader)
        return reader

    @contextmanager
    def snapshot(self) -> Iterator[LedgerReader]:
        """This thread's reader, reading one consistent state of the ledger."""
        reader = self.reader()
        with reader.snapshot():
            yield reader

    def registry(self) -> KeyRegistry:
        """The key registry as it stands now: re-proved (every registry event with its
        commit) when the trial stream's version changed since it was last read, so a key
        revoked by another process is refused from the next request on."""
        reader = self.reader()
        version = reader.stream_version(TRIAL_STREAM.hex)
        with self._lock:
            cached = self._registry
        if cached is not None and cached.version == version:
            return cached
        with reader.snapshot():
            registry = proved_registry(reader)
        with self._lock:
            if self._registry is None or self._registry.version <= registry.version:
                self._registry = registry
        return registry

    def close(self) -> None:
        with self._lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.close()

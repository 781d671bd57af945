"""The server's own checkpoints (``serve --checkpoint-key``): a signed tree head after new
commits, at most every ``checkpoint_every`` seconds, of exactly what the server verified.

The ledger key file is unlocked once, before the server answers anything
(:func:`unlock_checkpoint_key`: refused unless it is the ledger key that the ledger's
``TrialCreated`` names). A thread of its own (:class:`Checkpointer`) is woken by the head
watcher whenever commits landed; it waits out the rest of ``checkpoint_every`` since its last
signature, then calls :meth:`ledger.service.TrialLedger.checkpoint`, which verifies first and
signs only what that pass proved, from the same read snapshot, and keeps the checkpoint in the
ledger (where the watcher finds it and the feed announces it).

The verification is incremental from a verifier-state folder the server keeps for itself: a
fresh folder in the system's temporary directory (``trial-ledger-checkpoints-*``, mode 0700),
made at start and removed at stop. So the first checkpoint after a start is a full pass from
position 1 (nothing the server held before is trusted), and each later one reads only the
commits since the previous one (see the README's threat model, ``verify --state``).

A verification that fails stops checkpointing for the life of the server: nothing is signed,
the failure is logged, and the feed announces an ``alarm`` with the reason. A store that is
busy or unreachable is only logged; the next commit (or the next wake-up) tries again.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ledger.errors import AuthorisationError, LedgerError, UsageError, VerificationError
from ledger.integrity.checkpoint import parse_checkpoint
from ledger.integrity.signing import Signer
from ledger.server.config import ServerConfig
from ledger.service import TrialLedger
from ledger.store import LedgerReader
from ledger.verify import proved_registry

log = logging.getLogger("trial_ledger.server.checkpoints")

STATE_PREFIX = "trial-ledger-checkpoints-"


def unlock_checkpoint_key(config: ServerConfig) -> Signer | None:
    """The ledger key's signer when the server is to sign checkpoints (None if not); refused
    (:class:`~ledger.errors.UsageError`, naming the file) for a wrong passphrase, a key file
    of the wrong mode, or a key that is not the ledger key of the served ledger."""
    path = config.checkpoint_key
    if path is None:
        return None
    if config.checkpoint_passphrase is None:
        raise UsageError(f"--checkpoint-key {path}: no passphrase given for the key file")
    signer = Signer.from_key_file(path, config.checkpoint_passphrase)
    with LedgerReader(config.db) as reader:
        registry = proved_registry(reader)
    if registry.trial is None:
        raise UsageError(f"--db {config.db}: the ledger has no TrialCreated event")
    if signer.key_id != registry.trial.ledger_key_id:
        raise UsageError(
            f"--checkpoint-key {path}: key {signer.key_id} is not the ledger key "
            f"{registry.trial.ledger_key_id} that the ledger's TrialCreated names; "
            "checkpoints are signed by the ledger key"
        )
    return signer


class Checkpointer:
    """The checkpointing thread (see the module docstring).

    ``signed_size``: the largest checkpoint already kept (nothing is signed until the ledger
    is larger). ``on_alarm``: called, in this thread, with the reason checkpointing stopped.
    """

    def __init__(
        self,
        config: ServerConfig,
        signer: Signer,
        *,
        signed_size: int,
        on_alarm: Callable[[str], None],
    ) -> None:
        self.target = config.db
        self.every = config.checkpoint_every
        self.signer = signer
        self.signed_size = signed_size
        self.on_alarm = on_alarm
        self.state_dir = Path(tempfile.mkdtemp(prefix=STATE_PREFIX))
        self.failure: str | None = None
        """Why checkpointing stopped (a verification failure), if it did."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trial-ledger checkpointer")

    def start(self) -> None:
        """Start; the ledger is looked at straight away (commits may be unsigned already)."""
        self._wake.set()
        self._thread.start()

    def wake(self) -> None:
        """New commits landed (called by the head watcher)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop (after a signing under way, which is never cut short), remove the state."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            ledger = TrialLedger.open(self.target)
        except LedgerError as e:
            self._fail(f"checkpointing stopped: the ledger cannot be opened ({e})")
            return
        last = float("-inf")
        try:
            while not self._stop.is_set():
                self._wake.wait()
                left = last + self.every - time.monotonic()
                if self._stop.is_set() or (left > 0 and self._stop.wait(left)):
                    return
                self._wake.clear()
                if not self._sign_if_new(ledger):
                    return
                last = time.monotonic()
        except Exception as e:  # never die silently: say so in the feed
            log.exception("the checkpointer stopped")
            self._fail(f"checkpointing stopped: unexpected error ({type(e).__name__})")
        finally:
            ledger.close()

    def _sign_if_new(self, ledger: TrialLedger) -> bool:
        """Sign a checkpoint if the ledger grew since the last one; False once it must stop."""
        try:
            if ledger.reader.size() <= self.signed_size:
                return True
            note = ledger.checkpoint(self.signer, state_dir=self.state_dir)
        except (VerificationError, UsageError, AuthorisationError) as e:
            self._fail(f"checkpointing stopped, nothing signed: {e.diagnostics()}")
            return False
        except LedgerError as e:  # busy, unreachable: the next wake-up tries again
            log.warning("no checkpoint signed this time: %s", e.diagnostics())
            return True
        checkpoint, _ = parse_checkpoint(note)
        self.signed_size = checkpoint.tree_size
        log.info("checkpoint signed at tree size %d", checkpoint.tree_size)
        return True

    def _fail(self, reason: str) -> None:
        self.failure = reason
        log.error("%s", reason)
        self.on_alarm(reason)

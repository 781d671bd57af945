"""The demo's people: the sponsor, the ledger's checkpoint key and the site staff, each with a
key derived from the seed, registered in the ledger and written as a key file.

``<label>.key`` always holds the person's current key; a key rotated or revoked in the demo is
kept as ``<label>.rotated-<date>.key`` or ``<label>.revoked-<date>.key``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cli.demo.plan import TRIAL_START
from ledger.integrity.signing import Signer, write_private_key, write_public_key
from ledger.service import TrialLedger, person_key

SITE_STAFF = {
    "001": ("Dr. Avery Lind", "Cole Marsh"),
    "002": ("Dr. Priya Raman", "Jonas Feld"),
    "003": ("Dr. Tomas Berg", "Ines Kaur"),
}
"""Site code: (investigator, coordinator)."""


@dataclass(frozen=True)
class Staff:
    role: str
    site: str
    name: str
    signer: Signer


def demo_signer(seed: int, label: str) -> Signer:
    secret = hashlib.sha256(f"trial-ledger demo {seed} {label}".encode()).digest()
    return Signer(Ed25519PrivateKey.from_private_bytes(secret))


class Team:
    """The demo's keys: who holds which, and their key files in ``keys_dir`` (listed, label to
    path, in ``key_files``)."""

    def __init__(
        self, keys_dir: Path, seed: int, passphrase: bytes, key_files: dict[str, str]
    ) -> None:
        self.keys_dir = keys_dir
        self.seed = seed
        self.passphrase = passphrase
        self.key_files = key_files
        self.staff: dict[str, Staff] = {}
        self.sponsor = demo_signer(seed, "sponsor")
        self.ledger_key = demo_signer(seed, "ledger")

    def investigator(self, site: str) -> Signer:
        return self.staff[f"investigator-{site}"].signer

    def coordinator(self, site: str) -> Signer:
        return self.staff[f"coordinator-{site}"].signer

    def write_key(self, label: str, signer: Signer) -> None:
        path = self.keys_dir / f"{label}.key"
        write_private_key(path, signer._private_key, self.passphrase)
        write_public_key(self.keys_dir / f"{label}.key.pub", signer.public_key)
        self.key_files[label] = str(path)

    def write_ledger_keys(self) -> None:
        """The sponsor's and the checkpoint key files, written before the ledger is created."""
        self.keys_dir.mkdir(parents=True, exist_ok=True)
        self.write_key("sponsor", self.sponsor)
        self.write_key("ledger", self.ledger_key)

    def register_sites_and_staff(self, ledger: TrialLedger) -> None:
        for site in SITE_STAFF:  # sites first: keys and subjects are accepted at registered sites
            ledger.register_site(
                self.sponsor, site, f"Site {site}", "site activated for MC0282", TRIAL_START
            )
        for site, (investigator, coordinator) in SITE_STAFF.items():
            self.register(
                ledger, f"investigator-{site}", "investigator", site, investigator, TRIAL_START
            )
            self.register(
                ledger, f"coordinator-{site}", "coordinator", site, coordinator, TRIAL_START
            )
        self.register(ledger, "monitor", "monitor", "*", "Mona Alvarez", TRIAL_START)
        self.register(ledger, "data-manager", "data-manager", "*", "Dara Okafor", TRIAL_START)
        self.register(ledger, "auditor", "auditor", "*", "Audun Vik", TRIAL_START)

    def register(
        self,
        ledger: TrialLedger,
        label: str,
        role: str,
        site: str,
        name: str,
        on: date,
        key_label: str = "",
    ) -> Staff:
        signer = demo_signer(self.seed, key_label or label)
        key = person_key(signer.public_key, signer.key_id, name, role, site)
        ledger.register_key(self.sponsor, key, f"{role} of the MC0282 study team", on)
        self.write_key(key_label or label, signer)
        staff = Staff(role, site, name, signer)
        self.staff[label] = staff
        return staff

    def rotate(self, ledger: TrialLedger, label: str, on: date) -> None:
        old = self.staff[label]
        new_signer = demo_signer(self.seed, f"{label}-2")
        key = person_key(new_signer.public_key, new_signer.key_id, old.name, old.role, old.site)
        ledger.rotate_key(self.sponsor, old.signer.key_id, key, "scheduled annual key rotation", on)
        self.retire_key_file(label, f"rotated-{on.isoformat()}")
        self.write_key(label, new_signer)
        self.staff[label] = Staff(old.role, old.site, old.name, new_signer)

    def retire_key_file(self, label: str, why: str) -> None:
        """``label.key`` always holds the current key: a retired one is renamed
        ``label.<why>.key`` (e.g. ``coordinator-002.rotated-2004-06-01.key``)."""
        for suffix in (".key", ".key.pub"):
            (self.keys_dir / f"{label}{suffix}").rename(self.keys_dir / f"{label}.{why}{suffix}")
        self.key_files[f"{label}.{why}"] = str(self.keys_dir / f"{label}.{why}.key")

    def revoke_and_replace(self, ledger: TrialLedger, label: str, on: date) -> None:
        old = self.staff[label]
        ledger.revoke_key(self.sponsor, old.signer.key_id, "investigator left the institution", on)
        self.retire_key_file(label, f"revoked-{on.isoformat()}")
        self.register(
            ledger, label, old.role, old.site, "Dr. Helena Quist", on, f"{label}-successor"
        )
        # the successor's key, derived as "<label>-successor", is filed as the current one
        for suffix in (".key", ".key.pub"):
            (self.keys_dir / f"{label}-successor{suffix}").rename(
                self.keys_dir / f"{label}{suffix}"
            )
        self.key_files[label] = str(self.keys_dir / f"{label}.key")
        self.key_files.pop(f"{label}-successor", None)

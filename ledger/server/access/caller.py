"""Who is calling (:class:`Caller`) and what their role and site let them see.

* site staff (investigator, coordinator) see their own site's subjects only, and nothing
  that lists other sites' subjects (the raw log, the trial summary);
* monitors, data managers, auditors and the sponsor see everything;
* consumers (a registered key of role ``consumer``: statistics, safety, a warehouse) see the
  signed log and the projections, whose subjects are pseudonymous ids; people appear to
  them by key id and role, never by printed name, and the access log is not theirs to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ledger.events import ALL_SITES, SITE_BOUND_ROLES, site_of

CONSUMER = "consumer"
READS_EVERYTHING = frozenset({"sponsor", "monitor", "data-manager", "auditor"})
READS_ACCESS_LOG = frozenset({"sponsor", "auditor", "monitor"})


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the registered key that signed the request (or obtained the
    token it carries), as the key registry stands now."""

    key_id: str
    printed_name: str
    role: str
    site: str
    """A site code, or ``*`` for every site."""
    via: Literal["signature", "token"]
    evidence: str
    """What proves the request came from the key: the signed request's ``Signature-Input``
    and ``Signature``, or the id of the token and of the signed request that obtained it."""

    @property
    def is_person(self) -> bool:
        """A person (whose reads of subjects are recorded), not a consuming system."""
        return self.role != CONSUMER

    @property
    def site_bound(self) -> bool:
        return self.role in SITE_BOUND_ROLES and self.site != ALL_SITES

    @property
    def sees_names(self) -> bool:
        """Whether people are shown to this caller by printed name (not to consumers)."""
        return self.role != CONSUMER

    def may_read_subject(self, subject_id: str) -> bool:
        return not self.site_bound or site_of(subject_id) == self.site

    def may_read_site(self, site: str) -> bool:
        return not self.site_bound or site == self.site

    @property
    def may_read_whole_log(self) -> bool:
        """The raw log, proofs of it and the trial-level figures name every site's subjects."""
        return not self.site_bound

    @property
    def may_read_access_log(self) -> bool:
        return self.role in READS_ACCESS_LOG

    def describe(self) -> str:
        return f"{self.printed_name} ({self.role}, site {self.site}, key {self.key_id})"

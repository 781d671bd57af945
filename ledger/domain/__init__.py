"""The trial domain: the Patient aggregate, the recording rules and the recording commands.

* :mod:`ledger.domain.patient`: :class:`Patient`, folded from a subject's events (state only).
* :mod:`ledger.domain.guards`: the ledger's recording rules (ids ``REC-*``, ``LAB-*``, ``AE-*``).
* :mod:`ledger.domain.commands`: one pure function per command: rules, then events.
"""

from ledger.domain.guards import RECORDING_RULE_IDS, TrialContext
from ledger.domain.patient import Patient
from ledger.subject.evaluation import Findings

__all__ = [
    "RECORDING_RULE_IDS",
    "Findings",
    "Patient",
    "TrialContext",
]

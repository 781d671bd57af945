"""The recording commands, one model and one handler each, by phase of the trial.

* :mod:`~ledger.domain.commands.base`: :class:`Command`, the handler map, :class:`Cli`.
* :mod:`~ledger.domain.commands.screening`: screen, eligibility, consent, enrol.
* :mod:`~ledger.domain.commands.treatment`: dose, missed dose, advance, stop treatment.
* :mod:`~ledger.domain.commands.response`: lab, assess (and the month-6 decision), progression.
* :mod:`~ledger.domain.commands.safety`: adverse events reported and resolved.
* :mod:`~ledger.domain.commands.end_of_study`: follow-up, withdrawal, off study, death.
* :mod:`~ledger.domain.commands.corrections`: corrections and signatures.
* :mod:`~ledger.domain.commands.rules`: what the handlers share.

:data:`COMMANDS` lists every command model in the order the CLI's help shows them; each has
exactly one handler in :data:`HANDLERS`.
"""

from ledger.domain.commands.base import HANDLERS, Cli, Command, Handler, handler_for
from ledger.domain.commands.corrections import Correct, Sign
from ledger.domain.commands.end_of_study import RecordDeath, RecordFollowUp, TakeOffStudy, Withdraw
from ledger.domain.commands.progression import ConfirmProgression
from ledger.domain.commands.response import AssessResponse, RecordLab
from ledger.domain.commands.safety import ReportAdverseEvent, ResolveAdverseEvent
from ledger.domain.commands.screening import AssessEligibility, Consent, Enrol, Screen
from ledger.domain.commands.treatment import (
    AdvanceRegimen,
    RecordDose,
    RecordMissedDose,
    StopTreatment,
)

COMMANDS: tuple[type[Command], ...] = (
    Screen,
    AssessEligibility,
    Consent,
    Enrol,
    RecordDose,
    RecordMissedDose,
    RecordLab,
    AssessResponse,
    ConfirmProgression,
    AdvanceRegimen,
    StopTreatment,
    ReportAdverseEvent,
    ResolveAdverseEvent,
    RecordFollowUp,
    Withdraw,
    TakeOffStudy,
    RecordDeath,
    Correct,
    Sign,
)

__all__ = [
    "COMMANDS",
    "HANDLERS",
    "AdvanceRegimen",
    "AssessEligibility",
    "AssessResponse",
    "Cli",
    "Command",
    "ConfirmProgression",
    "Consent",
    "Correct",
    "Enrol",
    "Handler",
    "RecordDeath",
    "RecordDose",
    "RecordFollowUp",
    "RecordLab",
    "RecordMissedDose",
    "ReportAdverseEvent",
    "ResolveAdverseEvent",
    "Screen",
    "Sign",
    "StopTreatment",
    "TakeOffStudy",
    "Withdraw",
    "handler_for",
]

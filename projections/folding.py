"""What the subject projections share: the regimen timeline, corrections, and on-demand folds.

Regimen timeline. A subject's regimen ("arm", :class:`ledger.protocol.schedule.Regimen`) on a
clinical date comes from dated transitions, ordered by (effective date, position):

* ``SubjectEnrolled``: induction from ``treatment_start`` [REG-SCREEN-ELIGIBLE]; before it the
  subject is in screening;
* ``EligibilityAssessed`` with ``eligible: false``: off_study [REG-SCREEN-INELIGIBLE];
* ``RegimenChanged``: ``to_regimen`` from its effective date (the rule id and reason recorded);
* ``SubjectWithdrawn``, ``SubjectOffStudy``, ``SubjectDied``: off_study [REG-WITHDRAWAL]. These
  are terminal: from the earliest of them on, the regimen is off_study whatever else is dated
  later.

A transition applies from its effective date on (inclusive). ``since`` is the first day of the
current run of the same regimen (a month-12 extension of low-dose dexamethasone keeps the
weekly calendar of the original start).

Corrections. ``CorrectionRecorded`` names the corrected position and a field (dotted for a
nested field, e.g. ``baseline.serum_m_protein_g_dl``); :func:`apply_corrections` replaces that
field of the corrected event's payload with ``new_value`` (parsed to the stored value's JSON type)
before the subject is folded; a correction of ``record_status`` to ``entered-in-error`` removes
the event from every fold (it stays in the log and in the audit trail). Corrections apply in
position order, a later one winning. A
correction naming another subject's event, a trial event, another correction, an unknown field,
``subject_id``, or a value that does not parse is not applied (it stays visible in the audit
trail and is listed with ``applied: false``).

On-demand folds (as-of queries) read one subject's stream from the ledger. Rows at or before a
projection's tracked position were verified when the projection consumed them, and catch-up
checks that the ledger still holds the same leaf there; :meth:`StreamReader.rows` additionally
recomputes each row's leaf from its stored columns and the stored leaf before it, so a stored
event edited without recomputing the chain is refused. ``trial-ledger verify`` re-proves it all.
"""

from __future__ import annotations

import bisect
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.chain import ZERO_HASH, leaf_hash_of
from ledger.errors import VerificationError
from ledger.events import (
    ENTERED_IN_ERROR,
    RECORD_STATUS_FIELD,
    RECORD_VALID,
    CorrectionRecorded,
    EligibilityAssessed,
    RegimenChanged,
    SubjectDied,
    SubjectEnrolled,
    SubjectOffStudy,
    SubjectWithdrawn,
    subject_stream_id,
)
from ledger.protocol.schedule import Regimen
from projections.decoding import Payload, event_type, payload_of

SCREENING = Regimen.SCREENING.value
OFF_STUDY = Regimen.OFF_STUDY.value
INDUCTION = Regimen.INDUCTION.value
ANAKINRA_ALONE = frozenset({Regimen.INDUCTION.value, Regimen.CONTINUATION.value})
WITH_DEXAMETHASONE = frozenset({Regimen.LOW_DOSE_DEX.value, Regimen.HIGH_DOSE_DEX.value})
TERMINAL_TOPICS = frozenset({SubjectWithdrawn.TOPIC, SubjectOffStudy.TOPIC, SubjectDied.TOPIC})
TIMELINE_TOPICS = frozenset(
    {EligibilityAssessed.TOPIC, SubjectEnrolled.TOPIC, RegimenChanged.TOPIC} | TERMINAL_TOPICS
)
PROTECTED_FIELDS = frozenset({"subject_id"})

# A transition: [date, position, regimen, source event type, rule id, reason, terminal]
Transition = list[Any]


class Timeline:
    """A subject's dated regimen transitions (compact: a handful per subject)."""

    __slots__ = ("entries",)

    def __init__(self, entries: list[Transition] | None = None) -> None:
        self.entries: list[Transition] = entries or []

    def add(self, position: int, topic: str, p: Payload) -> None:
        """Fold one of :data:`TIMELINE_TOPICS` into the timeline."""
        if topic == RegimenChanged.TOPIC:
            entry = [
                p["effective_date"],
                position,
                p["to_regimen"],
                "RegimenChanged",
                p["rule_id"],
                p["reason"],
                False,
            ]
        elif topic == SubjectEnrolled.TOPIC:
            entry = [
                p["treatment_start"],
                position,
                INDUCTION,
                "SubjectEnrolled",
                "REG-SCREEN-ELIGIBLE",
                "enrolled: induction with anakinra alone from the treatment start",
                False,
            ]
        elif topic == EligibilityAssessed.TOPIC:
            if p["eligible"]:
                return
            entry = [
                p["effective_date"],
                position,
                OFF_STUDY,
                "EligibilityAssessed",
                "REG-SCREEN-INELIGIBLE",
                "not eligible",
                False,
            ]
        else:
            reason = p.get("reason") or p.get("cause") or ""
            entry = [
                p["effective_date"],
                position,
                OFF_STUDY,
                event_type(topic),
                "REG-WITHDRAWAL",
                reason,
                True,
            ]
        bisect.insort(self.entries, entry, key=lambda e: (e[0], e[1]))

    def regimen_on(self, on: str) -> tuple[str, str | None]:
        """(regimen, first day of its current run) on clinical date ``on`` (ISO string)."""
        terminal = [e for e in self.entries if e[6] and e[0] <= on]
        if terminal:
            return OFF_STUDY, terminal[0][0]
        upto = [e for e in self.entries if e[0] <= on]
        if not upto:
            return SCREENING, None
        regimen = upto[-1][2]
        since = upto[-1][0]
        for e in reversed(upto):
            if e[2] != regimen:
                break
            since = e[0]
        return regimen, since

    def ever(self, regimens: frozenset[str], upto: str | None = None) -> str | None:
        """The first date any of ``regimens`` was entered (at or before ``upto``), or None."""
        for e in self.entries:
            if upto is not None and e[0] > upto:
                break
            if e[2] in regimens and self.regimen_on(e[0])[0] == e[2]:
                return str(e[0])
        return None

    def left(self, regimen: str) -> str | None:
        """The first date after entering ``regimen`` on which the subject is in another one."""
        entered = False
        for e in self.entries:
            current = self.regimen_on(e[0])[0]
            if current == regimen:
                entered = True
            elif entered:
                return str(e[0])
        return None

    def history(self) -> list[dict[str, Any]]:
        return [
            {
                "effective_date": e[0],
                "regimen": e[2],
                "source": e[3],
                "rule_id": e[4],
                "reason": e[5],
                "position": e[1],
            }
            for e in self.entries
        ]


# --------------------------------------------------------------------------- corrections


@dataclass(frozen=True)
class Correction:
    position: int
    corrects_position: int
    field: str
    old_value: str
    new_value: str
    reason: str
    applied: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "corrects_position": self.corrects_position,
            "field": self.field,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "reason": self.reason,
            "applied": self.applied,
        }


def _coerce(old: Any, new: str) -> tuple[bool, Any]:
    """``new`` (the text of a JSON value, ``ledger.events.CorrectionRecorded``) in the JSON type
    of the stored value ``old``: ``""`` is none, ``true``/``false`` a bool, an int an int, list
    items are joined by ``,``; anything else stays a string (dates, decimals, literals)."""
    if new == "":
        return True, [] if isinstance(old, list) else None
    if isinstance(old, bool):
        return new in ("true", "false"), new == "true"
    if isinstance(old, int):
        try:
            return True, int(new)
        except ValueError:
            return False, None
    if isinstance(old, list):
        items = new.split(",")
        if old and all(type(x) is int for x in old):
            try:
                return True, [int(x) for x in items]
            except ValueError:
                return False, None
        return True, items
    if isinstance(old, dict):
        return False, None
    return True, new


def patch_field(payload: Payload, field: str, new_value: str) -> bool:
    """Replace ``field`` (dotted for nested) of ``payload`` in place; False if not applicable."""
    parts = field.split(".")
    if parts[0] in PROTECTED_FIELDS:
        return False
    target: Any = payload
    for part in parts[:-1]:
        target = target.get(part) if isinstance(target, dict) else None
    if not isinstance(target, dict) or parts[-1] not in target:
        return False
    ok, value = _coerce(target[parts[-1]], new_value)
    if ok:
        target[parts[-1]] = value
    return ok


SubjectRow = tuple[int, str, Payload]  # (position, topic, payload)


def apply_corrections(rows: list[SubjectRow]) -> tuple[list[SubjectRow], list[Correction]]:
    """Patch the corrected payloads among ``rows`` (one subject, position order) in place.

    Returns the rows without those marked entered in error (``record_status`` set to
    ``entered-in-error`` by the latest correction of that field), and every correction.
    """
    by_position = {position: (topic, payload) for position, topic, payload in rows}
    status: dict[int, str] = {}
    found: list[Correction] = []
    for position, topic, p in rows:
        if topic != CorrectionRecorded.TOPIC:
            continue
        target_position = p["corrects_position"]
        target = by_position.get(target_position)
        usable = (
            target is not None
            and target_position < position
            and target[0] != CorrectionRecorded.TOPIC
        )
        if usable and p["field"] == RECORD_STATUS_FIELD:
            applied = p["new_value"] in (RECORD_VALID, ENTERED_IN_ERROR)
            if applied:
                status[target_position] = p["new_value"]
        else:
            applied = usable and patch_field(
                by_position[target_position][1], p["field"], p["new_value"]
            )
        found.append(
            Correction(
                position=position,
                corrects_position=target_position,
                field=p["field"],
                old_value=p["old_value"],
                new_value=p["new_value"],
                reason=p["reason"],
                applied=applied,
            )
        )
    voided = {position for position, value in status.items() if value == ENTERED_IN_ERROR}
    kept = [row for row in rows if row[0] not in voided] if voided else rows
    return kept, found


def clinical_rows(rows: list[SubjectRow], on: str | None) -> list[SubjectRow]:
    """Rows whose (corrected) effective date is on or before ``on``; corrections always pass."""
    if on is None:
        return rows
    return [
        row
        for row in rows
        if row[1] == CorrectionRecorded.TOPIC or str(row[2].get("effective_date", "")) <= on
    ]


class StreamReader:
    """One subject's rows in one query (a read-only connection of its own to the ledger file).

    ``LedgerReader.stream_rows`` reads a stream one position at a time; a re-fold after a
    correction, or an as-of query, reads a whole subject at once, so it gets its own query.
    """

    def __init__(self, db_path: Path) -> None:
        self._conn = sqlite3.connect(
            f"file:{db_path.resolve()}?mode=ro", uri=True, check_same_thread=False
        )

    def close(self) -> None:
        self._conn.close()

    def rows(self, subject_id: str, upto: int | None, *, check_leaves: bool) -> list[SubjectRow]:
        """The subject's events at positions <= ``upto`` (all when None), position order.

        ``check_leaves``: recompute each row's leaf from its stored columns and the stored leaf
        before it, refusing an altered record (see the module docstring).
        """
        found = self._conn.execute(
            "SELECT position, originator_id, originator_version, topic, state, leaf_hash,"
            " commit_seq FROM stored_events WHERE originator_id=? AND position<=?"
            " ORDER BY originator_version",
            (subject_stream_id(subject_id).hex, upto if upto is not None else 2**62),
        ).fetchall()
        if check_leaves:
            self._check_leaves(found)
        rows = [(int(r[0]), str(r[3]), payload_of(r[4])) for r in found]
        rows.sort(key=lambda r: r[0])
        return rows

    def _check_leaves(self, found: list[Any]) -> None:
        wanted = sorted({int(r[0]) - 1 for r in found if int(r[0]) > 1})
        prev_of: dict[int, bytes] = {0: ZERO_HASH}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for position, leaf in self._conn.execute(
                f"SELECT position, leaf_hash FROM stored_events WHERE position IN ({marks})",
                chunk,
            ):
                prev_of[int(position)] = bytes(leaf)
        for position, oid, version, topic, state, stored_leaf, commit_seq in found:
            leaf = leaf_hash_of(
                commit=commit_seq,
                originator_id=oid,
                originator_version=version,
                position=position,
                prev=prev_of.get(position - 1, b""),
                state=bytes(state),
                topic=topic,
            )
            if leaf != bytes(stored_leaf):
                raise VerificationError(
                    f"position {position}: the stored event does not match its leaf hash; "
                    "refusing to fold an altered record (run `trial-ledger verify`)"
                )

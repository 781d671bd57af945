"""Audit trail: who did what, when, why, under which signature meaning, at which position/hash.

The view indexes the ledger rather than copying it: one narrow row per event
(``audit_events``: position, commit, event type, subject), one row per signed
commit (``audit_commits``: signer key, meaning, recorded time), the key registry as folded from
the trial stream (``audit_keys``: printed name, role, site, status) and the links between events
(``audit_links``: a correction and the event it corrects, a signature and the events it signs).
The content columns (leaf hash, clinical date, what, why, a correction's field/old/new) are
read from the
ledger itself when the trail is queried, so what an inspector exports is the signed record.

Nothing is hidden: a corrected event keeps its own row with its original values and lists the
corrections in ``corrected_by``; each correction has its own row (21 CFR 11.10(e)).

Columns, in this order (CSV header and JSON member order; :data:`COLUMNS`):
position, hash (leaf hash, hex), event_type, subject_id, key_id, printed_name, role, site,
clinical_date (effective date), recorded_at (UTC, the commit's), meaning (signature meaning),
what, field, old_value, new_value, corrects_position, corrected_by, signed_by, why, commit_seq.
In CSV, list columns (corrected_by, signed_by) are joined with ``;`` and absent values are empty.

Filters (all optional, combined with AND): subject id; person (a key id, or a case-insensitive
part of a printed name); event type (``DoseAdministered`` or its topic); recorded time range
(inclusive, UTC).

Modules: :mod:`~projections.audit.projection` (the view and how it is kept),
:mod:`~projections.audit.trail` (filters and the query), :mod:`~projections.audit.describe`
(the what and why of each event type), :mod:`~projections.audit.export` (CSV and JSON). Every
name is importable from here as well.
"""

from __future__ import annotations

from projections.audit.export import write_csv, write_json
from projections.audit.projection import AuditProjection
from projections.audit.trail import COLUMNS, AuditFilter, audit_trail, position_at, recorded_at

__all__ = [
    "COLUMNS",
    "AuditFilter",
    "AuditProjection",
    "audit_trail",
    "position_at",
    "recorded_at",
    "write_csv",
    "write_json",
]

"""Every fact the ledger records, as frozen pydantic v2 models with explicit, versioned topics.

Stored form: the event's fields minus ``originator_id`` and ``originator_version`` (those are
columns of their own), serialised with pydantic's JSON mode and canonicalised per RFC 8785 by
:func:`ledger.integrity.canonical.canonical_json`. Numbers a clinician measured are
:class:`~decimal.Decimal` and serialise as JSON strings ("2.45"), so no stored payload carries a
binary float (a meta-test walks every model to keep it so).

Two streams exist:

* the trial stream (one per ledger): :class:`TrialCreated` and the registry of the trial's
  sites (:class:`SiteRegistered`) and people's keys (:class:`KeyRegistered`,
  :class:`KeyRotated`, :class:`KeyRevoked`);
* one stream per subject, keyed by ``uuid5(SUBJECT_NAMESPACE, subject_id)``.

``RECORDED_BY`` names the roles whose keys may sign each event type; ``SITE_BOUND`` roles may
only sign events of subjects at their own site. Renaming a class never changes its ``TOPIC``.

Identifiers are ASCII: every pattern below spells digits ``[0-9]``, never ``\\d`` (which, in
Python's and pydantic's regular expressions alike, also matches the digits of other scripts,
so a subject id written with Arabic-Indic digits would pass). :data:`SUBJECT_ID_PATTERN` is
the one definition of a subject id; code outside the models checks with :func:`is_subject_id`.

Free text (:data:`PrintedName`, :data:`Reason`, :data:`ShortText`, :data:`PlainText`) is any
script's letters, digits, marks, spaces, punctuation and symbols, on one line: no value holds
a control character (Unicode category Cc: C0, DEL, C1, so no line break, tab or escape
sequence), a format character (Cf: bidirectional overrides, isolates and marks, zero-width
characters, the byte order mark, the soft hyphen) or a line or paragraph separator (Zl, Zp).
Such a character would be stored in the signed ledger for good and could, when printed, forge
or hide lines of the audit display (a printed name is a signature manifestation). The check
sees the value as given, before surrounding whitespace is stripped.

Where things are: :mod:`~ledger.events.identifiers` (roles, meanings, identifiers, stream ids),
:mod:`~ledger.events.text` (the free-text rule), :mod:`~ledger.events.base`
(:class:`LedgerEvent`), :mod:`~ledger.events.trial` (the trial stream),
:mod:`~ledger.events.subject` (the subject streams) and :mod:`~ledger.events.catalogue` (every
event type by topic, and :func:`decode_event`).
"""

from __future__ import annotations

from ledger.events.base import LedgerEvent, created_at_utc
from ledger.events.catalogue import (
    ALL_EVENTS,
    EVENT_BY_TOPIC,
    REGISTRY_TOPICS,
    ROLES_BY_TOPIC,
    SCREENING_TOPIC,
    SUBJECT_EVENTS,
    TRIAL_EVENTS,
    decode_event,
    event_name,
)
from ledger.events.identifiers import (
    AE_ID_PATTERN,
    ALL_SITES,
    MEANINGS,
    ROLES,
    SITE_BOUND_ROLES,
    SITE_PATTERN,
    SUBJECT_ID_PATTERN,
    SUBJECT_NAMESPACE,
    TRIAL_NAMESPACE,
    AeId,
    KeyId,
    Meaning,
    PublicKeyB64,
    Role,
    Site,
    SiteCode,
    SubjectId,
    is_subject_id,
    site_of,
    subject_stream_id,
    trial_stream_id,
)
from ledger.events.subject import (
    ANALYTE_UNITS,
    ENTERED_IN_ERROR,
    INVESTIGATOR,
    RECORD_STATUS_FIELD,
    RECORD_VALID,
    SITE_STAFF,
    ActionTaken,
    AdverseEventReported,
    AdverseEventResolved,
    Analyte,
    Attribution,
    BaselineLabs,
    ConsentObtained,
    CorrectionRecorded,
    CriterionRecord,
    Deviation,
    DoseAdministered,
    DoseMissed,
    Drug,
    EligibilityAssessed,
    FollowUpVisit,
    LabResulted,
    MeasuredValues,
    ProgressionConfirmed,
    RecordSigned,
    RegimenChanged,
    RegimenName,
    ResponseAssessed,
    ResponseCategory,
    Route,
    Seriousness,
    SubjectDied,
    SubjectEnrolled,
    SubjectEvent,
    SubjectOffStudy,
    SubjectScreened,
    SubjectWithdrawn,
)
from ledger.events.text import (
    BIDI_CONTROLS,
    PRINTABLE,
    PRINTABLE_TEXT_RULE,
    UNPRINTABLE_CATEGORIES,
    PlainText,
    PrintedName,
    Reason,
    ShortText,
    describe_character,
    unprintable_character,
)
from ledger.events.trial import (
    KeyRegistered,
    KeyRevoked,
    KeyRotated,
    PersonKey,
    SiteRegistered,
    TrialCreated,
)

__all__ = [
    "AE_ID_PATTERN",
    "ALL_EVENTS",
    "ALL_SITES",
    "ANALYTE_UNITS",
    "BIDI_CONTROLS",
    "ENTERED_IN_ERROR",
    "EVENT_BY_TOPIC",
    "INVESTIGATOR",
    "MEANINGS",
    "PRINTABLE",
    "PRINTABLE_TEXT_RULE",
    "RECORD_STATUS_FIELD",
    "RECORD_VALID",
    "REGISTRY_TOPICS",
    "ROLES",
    "ROLES_BY_TOPIC",
    "SCREENING_TOPIC",
    "SITE_BOUND_ROLES",
    "SITE_PATTERN",
    "SITE_STAFF",
    "SUBJECT_EVENTS",
    "SUBJECT_ID_PATTERN",
    "SUBJECT_NAMESPACE",
    "TRIAL_EVENTS",
    "TRIAL_NAMESPACE",
    "UNPRINTABLE_CATEGORIES",
    "ActionTaken",
    "AdverseEventReported",
    "AdverseEventResolved",
    "AeId",
    "Analyte",
    "Attribution",
    "BaselineLabs",
    "ConsentObtained",
    "CorrectionRecorded",
    "CriterionRecord",
    "Deviation",
    "DoseAdministered",
    "DoseMissed",
    "Drug",
    "EligibilityAssessed",
    "FollowUpVisit",
    "KeyId",
    "KeyRegistered",
    "KeyRevoked",
    "KeyRotated",
    "LabResulted",
    "LedgerEvent",
    "Meaning",
    "MeasuredValues",
    "PersonKey",
    "PlainText",
    "PrintedName",
    "ProgressionConfirmed",
    "PublicKeyB64",
    "Reason",
    "RecordSigned",
    "RegimenChanged",
    "RegimenName",
    "ResponseAssessed",
    "ResponseCategory",
    "Role",
    "Route",
    "Seriousness",
    "ShortText",
    "Site",
    "SiteCode",
    "SiteRegistered",
    "SubjectDied",
    "SubjectEnrolled",
    "SubjectEvent",
    "SubjectId",
    "SubjectOffStudy",
    "SubjectScreened",
    "SubjectWithdrawn",
    "TrialCreated",
    "created_at_utc",
    "decode_event",
    "describe_character",
    "event_name",
    "is_subject_id",
    "site_of",
    "subject_stream_id",
    "trial_stream_id",
    "unprintable_character",
]

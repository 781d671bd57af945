"""A recording command is data: one pydantic model per command, one handler per model.

Every entry point builds the same :class:`Command` model (the CLI from its options, the JSON
Lines import from a line, later the HTTP API from a body) and hands it to
``TrialRecorder.record(signer, command)``, which runs the command's handler: a pure function
``(patient, context, command) -> events`` that checks the rules on the subject's state and
builds the events to append as one signed commit. The import format's JSON Schema is generated
from the models, and so are the CLI's options (:class:`Cli` says how a field is spelt on the
command line where the default, ``--field-name``, does not fit).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from ledger import input_limits
from ledger.domain.guards import TrialContext
from ledger.domain.patient import Patient
from ledger.errors import ValidationError, refusal_from_pydantic
from ledger.events import SubjectEvent, SubjectId, is_subject_id

MAX_RULE_EVENTS = 16
"""At most this many events the rules add to one command (eight regimen transitions due at
once by ``advance``, each with the start of follow-up)."""
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2199, 12, 31)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _clinical_date(value: object) -> object:
    """A calendar date written YYYY-MM-DD (the extended form only), 1900-01-01..2199-12-31;
    a ``date`` passes as it is (a ``datetime`` does not)."""
    if isinstance(value, str):
        if not _ISO_DATE.fullmatch(value):
            raise PydanticCustomError("clinical_date", "expected a date as YYYY-MM-DD")
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError(
                "clinical_date", "no such calendar day (YYYY-MM-DD)"
            ) from None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise PydanticCustomError("clinical_date", "expected a date as YYYY-MM-DD")
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise PydanticCustomError(
            "clinical_date", f"a date between {EARLIEST_DATE} and {LATEST_DATE} is expected"
        )
    return value


ClinicalDate = Annotated[dt.date, BeforeValidator(_clinical_date)]
"""A clinical date as every entry point accepts it: YYYY-MM-DD, 1900..2199."""


_PLAIN_DECIMAL = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _plain_decimal(value: object) -> object:
    """A decimal given as text is written plainly in ASCII digits (``2.45``, ``-3``): no
    exponent, sign ``+``, spaces, underscores or other scripts' digits; never a bool."""
    if isinstance(value, bool) or (isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value)):
        raise PydanticCustomError(
            "plain_decimal", "expected a decimal number written in ASCII digits, such as 2.45"
        )
    return value


def _no_exponent(value: Decimal) -> Decimal:
    """A whole number stored as written by people (100, not 1E+2)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and 0 < exponent <= input_limits.MAX_DIGITS:
        return value.quantize(Decimal(1))
    return value


Amount = Annotated[Decimal, BeforeValidator(_plain_decimal), AfterValidator(_no_exponent)]
"""A measured or given amount: a JSON number, or text of plain ASCII digits."""
Whole = Annotated[int, Strict()]
"""A whole number given as a JSON integer (never ``true``, ``"2"`` or ``2.0``)."""
Flag = Annotated[bool, Strict()]
"""A yes/no given as JSON ``true``/``false`` (never ``"false"`` or ``0``)."""


def _subject_id(value: object) -> object:
    if not isinstance(value, str) or not is_subject_id(value):
        raise PydanticCustomError(
            "subject_id", "[REC-SUBJECT-ID] expected MC0282-NNN-NNN, e.g. MC0282-001-017"
        )
    return value


CommandSubjectId = Annotated[SubjectId, BeforeValidator(_subject_id)]
"""A subject id as every entry point accepts it (ASCII digits only, REC-SUBJECT-ID)."""


@dataclass(frozen=True)
class Cli:
    """How a command field is written on the command line, where the default does not fit.

    The default is one option ``--field-name`` taking the value as text (a ``bool`` field: a
    flag; an optional ``bool``: ``--field-name/--no-field-name``; a tuple: the option
    repeated). ``option`` renames it (a bool's may name both spellings, ``--a/--b``).
    ``file``: the nested model is read from the JSON file the option names. ``flatten``: the
    nested model's fields are options of their own, ``(field, option, help)``. ``rule``: a
    :class:`~ledger.events.Deviation` from that fixed rule, the option giving its reason.
    ``pair``: a deviation given as ``<option>-rule`` and ``<option>-reason``, both or neither.
    ``positions``: a list of positions written ``40,41`` or ``40-45``."""

    option: str | None = None
    help: str | None = None
    file: bool = False
    flatten: tuple[tuple[str, str, str], ...] = ()
    rule: str | None = None
    pair: bool = False
    positions: bool = False


class Command(BaseModel):
    """One recording command: the subject, the clinical date and the command's own fields.

    ``name`` is the command's name on the command line and its ``command`` tag in an import
    line; ``meaning`` is what the signer's signature over the commit means (21 CFR 11.50);
    ``importable``: whether the command may be a line of an import file (one commit of
    authorship).

    The events its handler emits, declared (a client that signs a commit prepared elsewhere
    accepts these and nothing else; ``tests/domain/test_command_event_sets.py`` runs every
    handler against them): ``own_event``, the one event the command records, first, for the
    command's subject, on its date, holding its values; ``rule_events``, the only events the
    rules may add after it, for the same subject and decided on the same date (at most
    :data:`MAX_RULE_EVENTS`); ``event_fields``, (field, where) pairs: a command field the
    own event holds under another name (a dotted path), or None where the rules read it and
    the own event does not hold it (every other field is held under its own name)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClassVar[str]
    importable: ClassVar[bool] = True
    own_event: ClassVar[type[SubjectEvent]]
    rule_events: ClassVar[frozenset[type[SubjectEvent]]] = frozenset()
    event_fields: ClassVar[tuple[tuple[str, str | None], ...]] = ()

    subject_id: Annotated[CommandSubjectId, Cli("--subject")] = Field(
        description="Pseudonymous subject id, e.g. MC0282-001-017."
    )
    date: ClinicalDate = Field(
        description="Clinical (effective) date of the fact, YYYY-MM-DD (on the command line "
        "default: today, UTC)."
    )

    @property
    def meaning(self) -> str:
        """The meaning of the commit's signature: authorship, unless the command says."""
        return "authorship"


C = TypeVar("C", bound=Command)
Handler = Callable[[Patient, TrialContext, C], list[SubjectEvent]]
"""Checks the rules on the patient as recorded and returns the events to append (never
writes, never changes the patient)."""

HANDLERS: dict[type[Command], Handler[Any]] = {}
"""The one handler map: command model -> handler."""


def handles(model: type[C]) -> Callable[[Handler[C]], Handler[C]]:
    """Register the decorated function as the handler of ``model`` (once per model)."""

    def register(handler: Handler[C]) -> Handler[C]:
        if model in HANDLERS:
            raise TypeError(f"{model.__name__} already has a handler")
        HANDLERS[model] = handler
        return handler

    return register


def handler_for(command: Command) -> Handler[Any]:
    return HANDLERS[type(command)]


def command_from(
    model: type[C], data: Mapping[str, Any], spell: Callable[[str], str] | None = None
) -> C:
    """``data`` as the command ``model``, every number within the input limits; a refusal is
    one :class:`~ledger.errors.ValidationError` naming the field (as ``spell`` writes it: an
    option on the command line), the value and the rule."""
    try:
        command = model.model_validate(data)
    except PydanticValidationError as e:
        refusal = refusal_from_pydantic(e.errors(include_url=False)[0])
        if spell is not None:
            refusal = ValidationError(spell(refusal.field), refusal.value, refusal.rule)
        raise refusal from None
    check_numbers(command)
    return command


def check_numbers(value: object, path: str = "") -> None:
    """Every decimal of a command within the number limits of :mod:`ledger.input_limits` (a
    decimal may be written as text, which the JSON reader's own limits do not see)."""
    if isinstance(value, Decimal):
        input_limits.check_number(path, value)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            check_numbers(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            check_numbers(item, f"{path}.{index}")

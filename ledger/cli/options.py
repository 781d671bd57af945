"""CLI commands generated from the command models: the options are the model's fields.

:func:`recording_command` turns a :class:`~ledger.domain.commands.Command` model into a Typer
command: one option per field (spelt as the field's :class:`~ledger.domain.commands.Cli` says,
help from its description), the model's docstring as the help. The command builds the model
from what was given, through the same validation as an import line (a refusal names the option,
the value and the rule, before any key is unlocked), then records it with
``TrialRecorder.record``. Nothing about a command is written twice.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ledger.cli.common import (
    DbOption,
    JsonFlag,
    KeyOption,
    PassphraseFileOption,
    parse_date,
)
from ledger.domain.commands import Cli, Command
from ledger.domain.commands.base import command_from
from ledger.errors import UsageError, ValidationError
from ledger.input_limits import load_json_file, parse_decimal
from ledger.service import today

_WRITTEN = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A decimal as a person types it in ASCII (``2.45``, ``1e3``; no spaces, ``+`` or ``_``)."""
MAX_SHOWN_CHOICES = 24
"""Choices longer than this (joined) are listed in the option's help, not its type column."""
Data = dict[str, Any]
Fill = Callable[[Data, Any], None]
Record = Callable[[Path, Path, Path | None, bool, Command], None]
"""Records a built command: (db, key, passphrase file, --json, command)."""


@dataclass(frozen=True)
class Parameter:
    """One parameter of a generated command and how its value fills the model's data."""

    name: str
    annotation: Any
    default: Any
    fill: Fill
    spelling: dict[str, str]
    """Field path in the model -> the option a user wrote, for refusals."""


def _cli(info: FieldInfo) -> Cli:
    return next((m for m in info.metadata if isinstance(m, Cli)), Cli())


def _optional(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without None, whether None was allowed)."""
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:  # X | None
            annotation, optional = args[0], True
    if get_origin(annotation) is Annotated:  # a constrained type (Flag, Amount, ...)
        annotation = get_args(annotation)[0]
    return annotation, optional


def _option_name(field: str, cli: Cli) -> str:
    return cli.option or "--" + field.replace("_", "-")


def _help(info: FieldInfo, cli: Cli) -> str:
    return cli.help or info.description or ""


def _set(field: str, convert: Callable[[Any], Any] = lambda v: v) -> Fill:
    def fill(data: Data, value: Any) -> None:
        if value is not None:
            data[field] = convert(value)

    return fill


def _text(field: str, info: FieldInfo, cli: Cli, required: bool) -> Parameter:
    """A value written as text (numbers, dates, codes, free text): the model validates it."""
    option = _option_name(field, cli)
    inner, _ = _optional(info.annotation)
    if inner is dt.date:
        fill = _set(field, lambda v: parse_date(v, option))
    elif inner is Decimal:
        fill = _set(field, lambda v: _decimal(v, option))
    elif inner is int:
        fill = _set(field, lambda v: _whole(v, option))
    else:
        fill = _set(field)
    choices = "|".join(get_args(inner)) if get_origin(inner) is Literal else ""
    # The model checks the choices (one refusal format everywhere); short ones are shown.
    metavar = f"<{choices}>" if choices and len(choices) <= MAX_SHOWN_CHOICES else None
    annotation: Any = str if required else str | None
    return Parameter(
        field,
        Annotated[
            annotation,
            typer.Option(option, help=_help(info, cli), show_default=False, metavar=metavar),
        ],
        inspect.Parameter.empty if required else None,
        fill,
        {field: option},
    )


def _decimal(text: str, option: str) -> Decimal:
    """A decimal written by a person, checked against the number limits before it is
    converted (``1e400`` and 5,000 digits are refused as written)."""
    number = parse_decimal(option, text) if _WRITTEN.fullmatch(text) else None
    if number is None:
        raise ValidationError(
            option, text, "expected a decimal number written in ASCII digits, such as 2.45"
        )
    return number


def _whole(text: str, option: str) -> int:
    if not text.strip().isascii() or not text.strip().lstrip("+-").isdigit() or len(text) > 40:
        raise ValidationError(option, text, "expected a whole number such as 61")
    return int(text)


def _flag(field: str, info: FieldInfo, cli: Cli) -> Parameter:
    """A bool: a flag (``--held``), a pair (``--a/--b``) or, optional, ``--x/--no-x``."""
    option = _option_name(field, cli)
    _, optional = _optional(info.annotation)
    if optional and "/" not in option:
        option = f"{option}/--no-{option.removeprefix('--')}"
    annotation: Any = bool | None if optional else bool
    return Parameter(
        field,
        Annotated[annotation, typer.Option(option, help=_help(info, cli), show_default=False)],
        info.default,
        _set(field),
        {field: option.split("/")[0]},
    )


def _repeated(field: str, info: FieldInfo, cli: Cli) -> Parameter:
    option = _option_name(field, cli)
    return Parameter(
        field,
        Annotated[list[str] | None, typer.Option(option, help=_help(info, cli))],
        None,
        _set(field, tuple),
        {field: option},
    )


def _file(field: str, info: FieldInfo, cli: Cli) -> Parameter:
    """A nested model read from a JSON file; every field it lacks or refuses is listed."""
    option = _option_name(field, cli)
    inner, _ = _optional(info.annotation)
    if not (isinstance(inner, type) and issubclass(inner, BaseModel)):  # pragma: no cover
        raise TypeError(f"{field}: Cli(file=True) reads a nested model")
    model = inner
    return Parameter(
        field,
        Annotated[Path, typer.Option(option, help=_help(info, cli), dir_okay=False)],
        inspect.Parameter.empty,
        _set(field, lambda path: model.model_validate(load_json_file(path, option))),
        {field: option},
    )


def _flattened(field: str, cli: Cli) -> list[Parameter]:
    """A nested model given as options of its own (every one optional)."""

    def into(sub: str) -> Fill:
        def fill(data: Data, value: Any) -> None:
            if value is not None:
                data.setdefault(field, {})[sub] = value

        return fill

    return [
        Parameter(
            f"{field}__{sub}",
            Annotated[str | None, typer.Option(option, help=text, show_default=False)],
            None,
            into(sub),
            {f"{field}.{sub}": option},
        )
        for sub, option, text in cli.flatten
    ]


def _deviation_pair(field: str, info: FieldInfo, cli: Cli) -> list[Parameter]:
    """A deviation as ``<option>-rule`` and ``<option>-reason``, both or neither."""
    option = _option_name(field, cli)
    rule_option, reason_option = f"{option}-rule", f"{option}-reason"

    def rule(data: Data, value: Any) -> None:
        if value is not None:
            data[field] = {"rule_id": value}

    def reason(data: Data, value: Any) -> None:  # filled after the rule (parameter order)
        if (value is None) != (field not in data):
            raise UsageError(f"give both {rule_option} and {reason_option}, or neither")
        if value is not None:
            data[field]["reason"] = value

    what = _help(info, cli)
    return [
        Parameter(
            f"{field}__rule",
            Annotated[
                str | None,
                typer.Option(rule_option, help=f"{what} (the rule)", show_default=False),
            ],
            None,
            rule,
            {f"{field}.rule_id": rule_option},
        ),
        Parameter(
            f"{field}__reason",
            Annotated[
                str | None,
                typer.Option(reason_option, help=f"Why (with {rule_option}).", show_default=False),
            ],
            None,
            reason,
            {f"{field}.reason": reason_option},
        ),
    ]


def _fixed_rule(field: str, info: FieldInfo, cli: Cli) -> Parameter:
    """A deviation from a fixed rule: the option gives its reason."""
    option = _option_name(field, cli)
    rule = cli.rule
    return Parameter(
        field,
        Annotated[str | None, typer.Option(option, help=_help(info, cli), show_default=False)],
        None,
        _set(field, lambda reason: {"rule_id": rule, "reason": reason}),
        {field: option, f"{field}.reason": option, f"{field}.rule_id": option},
    )


def positions_text(text: str, option: str) -> list[int]:
    """Positions written ``40,41,42`` or ``40-45`` (or both, ``40-42,47``)."""
    found: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                found.extend(range(low, high + 1))
            elif part:
                found.append(int(part))
    except ValueError:
        raise ValidationError(option, text, "expected positions such as 40,41 or 40-45") from None
    return found


def _positions(field: str, info: FieldInfo, cli: Cli) -> Parameter:
    option = _option_name(field, cli)
    return Parameter(
        field,
        Annotated[str, typer.Option(option, help=_help(info, cli), show_default=False)],
        inspect.Parameter.empty,
        _set(field, lambda text: positions_text(text, option)),
        {field: option},
    )


def _date() -> Parameter:
    return Parameter(
        "date",
        Annotated[
            str | None,
            typer.Option(
                "--date",
                help="Clinical date of the fact, YYYY-MM-DD (default: today, UTC).",
                show_default=False,
            ),
        ],
        None,
        lambda data, value: data.__setitem__(
            "date", parse_date(value, "--date") if value is not None else today()
        ),
        {"date": "--date"},
    )


def parameters(model: type[Command]) -> list[Parameter]:
    """The CLI parameters of ``model``, in field order (``--date`` last)."""
    found: list[Parameter] = []
    for field, info in model.model_fields.items():
        if field in ("command", "date"):
            continue
        found.extend(_parameters_of(field, info))
    found.append(_date())
    return found


def _parameters_of(field: str, info: FieldInfo) -> list[Parameter]:
    cli = _cli(info)
    inner, _ = _optional(info.annotation)
    if cli.flatten:
        return _flattened(field, cli)
    if cli.pair:
        return _deviation_pair(field, info, cli)
    if cli.rule is not None:
        return [_fixed_rule(field, info, cli)]
    if cli.positions:
        return [_positions(field, info, cli)]
    if cli.file:
        return [_file(field, info, cli)]
    if inner is bool:
        return [_flag(field, info, cli)]
    if get_origin(inner) is tuple:
        return [_repeated(field, info, cli)]
    if isinstance(inner, type) and issubclass(inner, BaseModel):  # pragma: no cover - guard
        raise TypeError(f"{field}: a nested model needs Cli(file=...) or Cli(flatten=...)")
    return [_text(field, info, cli, info.is_required())]


def _help_text(model: type[Command]) -> str:
    return inspect.cleandoc(model.__doc__ or model.name)


def recording_command(model: type[Command], record: Record) -> Callable[..., None]:
    """A Typer command for ``model``: ``--db``, ``--key``, the model's options, ``--date``,
    ``--passphrase-file`` and ``--json``; it builds the command and hands it to ``record``."""
    params = parameters(model)
    spelling = {path: option for p in params for path, option in p.spelling.items()}

    def spell(path: str) -> str:
        for candidate in (path, path.rsplit(".", 1)[0], path.split(".", 1)[0]):
            if candidate in spelling:
                return spelling[candidate]
        return path

    def command(**given: Any) -> None:
        data: Data = {}
        for p in params:
            p.fill(data, given[p.name])
        built = command_from(model, data, spell)
        record(given["db"], given["key"], given["passphrase_file"], given["json_out"], built)

    keyword = inspect.Parameter.KEYWORD_ONLY
    signature = [
        inspect.Parameter("db", keyword, annotation=DbOption),
        inspect.Parameter("key", keyword, annotation=KeyOption),
        *(
            inspect.Parameter(p.name, keyword, annotation=p.annotation, default=p.default)
            for p in params
        ),
        inspect.Parameter(
            "passphrase_file", keyword, annotation=PassphraseFileOption, default=None
        ),
        inspect.Parameter("json_out", keyword, annotation=JsonFlag, default=False),
    ]
    command.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in signature}
    command.__doc__ = _help_text(model)
    command.__name__ = model.name.replace("-", "_")
    command.__qualname__ = command.__name__
    return command


__all__ = ["Parameter", "parameters", "positions_text", "recording_command"]

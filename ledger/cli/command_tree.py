"""The command line's tree, loaded lazily: a root group that lists its commands from a table
(name: module, short help) and imports a command's module only when that command is used, and
the finishing touches every built command gets for its help (paragraphs unwrapped, flags shown
as flags)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from functools import cache
from typing import Any, ClassVar, NoReturn

import typer
from typer._click.core import Command, Context
from typer._click.exceptions import UsageError
from typer.core import TyperGroup, TyperOption


def unwrapped(text: str) -> str:
    """Help text with every paragraph on one line, for the help renderer to wrap to the
    terminal once (docstrings are wrapped at 100 columns; rich would wrap those lines again,
    leaving a short line after each). A paragraph marked ``\\b`` (keep as written) is kept."""
    paragraphs = text.strip().split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
        for p in paragraphs
    )


def finish(command: Command) -> Command:
    """A built command as the help shows it: paragraphs unwrapped, and flags shown as flags
    (typer shows a flag's metavar, else ``<bool>``, in the type column)."""
    if command.help:
        command.help = unwrapped(command.help)
    help_option = command.get_help_option(Context(command))
    for param in [*command.params, help_option]:
        if isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""
    return command


def finish_tree(command: Command) -> Command:
    """:func:`finish` for a command and every subcommand of a group."""
    for sub in command.commands.values() if isinstance(command, TyperGroup) else ():
        finish_tree(sub)
    return finish(command)


@cache
def module_commands(module: str) -> dict[str, Command]:
    """The commands ``module`` registers, built once per process."""
    app = typer.Typer()
    # __import__, not importlib.import_module: -X importtime times (and nests) what it loads.
    __import__(module, fromlist=["register"]).register(app)
    group = typer.main.get_group(app)
    return {name: finish_tree(command) for name, command in group.commands.items()}


class LazyGroup(TyperGroup):
    """A group whose commands are listed by :attr:`table` and loaded from their module when
    one is used (``cls=`` of the root ``typer.Typer``; :func:`add_placeholders` on it too).

    While its help is formatted and while shell completion lists commands, a command is the
    light placeholder the root Typer registered (its short help from the table), so neither
    imports a command module. ``commands`` is the whole real tree, every module loaded, for
    whoever walks it."""

    table: ClassVar[Mapping[str, tuple[str, str]]] = {}
    """Command name: (the module whose ``register(app)`` defines it, its short help)."""

    def __init__(self, **attrs: Any) -> None:
        self._placeholders: dict[str, Command] = {}
        self._listing = False
        super().__init__(**attrs)

    @property
    def commands(self) -> MutableMapping[str, Command]:
        return {name: self.load(name) for name in self.table}

    @commands.setter
    def commands(self, placeholders: MutableMapping[str, Command]) -> None:
        self._placeholders = dict(placeholders)

    def add_command(self, cmd: Command, name: str | None = None) -> NoReturn:
        raise TypeError("the commands of a LazyGroup come from its table")

    def load(self, name: str) -> Command:
        """The real command ``name`` (importing its module)."""
        module = self.table[name][0]
        found = module_commands(module).get(name)
        if found is None:
            raise LookupError(f"{module} registers no command {name!r}: update the table")
        return found

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.table)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.table:
            return None
        return self._placeholders.get(cmd_name) if self._listing else self.load(cmd_name)

    @contextmanager
    def _only_listing(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def format_help(self, ctx: Context, formatter: Any) -> None:
        with self._only_listing():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Context, incomplete: str) -> list[Any]:
        with self._only_listing():
            return super().shell_complete(ctx, incomplete)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        """As typer's, suggesting close names from the table (not from every loaded module)."""
        try:
            return self._click_resolve_command(ctx, args)
        except UsageError as e:
            from difflib import get_close_matches  # noqa: PLC0415 - only for a mistyped command

            matches = get_close_matches(args[0], list(self.table)) if args else []
            if matches:
                suggestions = ", ".join(f"{m!r}" for m in matches)
                e.message = f"{e.message.rstrip('.')}. Did you mean {suggestions}?"
            raise


def _placeholder() -> None:  # pragma: no cover - the group runs the loaded command instead
    raise RuntimeError("a placeholder of the command table was run")


def add_placeholders(app: typer.Typer, table: Mapping[str, tuple[str, str]]) -> None:
    """Register every command of ``table`` in ``app`` as a light placeholder carrying its short
    help: what its :class:`LazyGroup` lists without importing anything."""
    for name, (_module, short_help) in table.items():
        app.command(name, help=short_help, add_help_option=False)(_placeholder)

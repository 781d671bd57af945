"""The command table in cli.py (what `trial-ledger --help` lists without importing anything) is
exactly what the command modules register: the same commands, from the same module, with the
same short help. A command added, renamed, moved or re-described in ledger/cli fails here until
the table says so too."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import typer
from typer._click.core import Context

import cli
import ledger.cli
from ledger.cli.command_tree import LazyGroup


def _short_help(command: Any) -> str:
    """The first paragraph of a command's help, on one line (what a command list shows)."""
    return " ".join((command.help or "").strip().split("\n\n")[0].split())


def _command_modules() -> list[str]:
    """Every module under ledger/cli with a ``register(app)``."""
    names = [
        info.name
        for info in pkgutil.walk_packages(ledger.cli.__path__, prefix="ledger.cli.")
        if not info.ispkg
    ]
    return sorted(
        n for n in names if callable(getattr(importlib.import_module(n), "register", None))
    )


def _registered() -> dict[str, tuple[str, str]]:
    """Command name: (the module that registers it, its short help), from the modules."""
    found: dict[str, tuple[str, str]] = {}
    for module in _command_modules():
        app = typer.Typer()
        importlib.import_module(module).register(app)
        for name, command in typer.main.get_group(app).commands.items():
            assert name not in found, f"{name} is registered by {found[name][0]} and {module}"
            found[name] = (module, _short_help(command))
    return found


def test_the_table_lists_exactly_the_registered_commands_from_their_modules() -> None:
    registered = _registered()
    assert sorted(cli.COMMANDS) == sorted(registered)
    assert {n: m for n, (m, _) in cli.COMMANDS.items()} == {
        n: m for n, (m, _) in registered.items()
    }


def test_the_table_gives_each_command_the_short_help_of_the_real_command() -> None:
    registered = _registered()
    assert {n: h for n, (_, h) in cli.COMMANDS.items()} == {
        n: h for n, (_, h) in registered.items()
    }


def test_every_table_module_is_a_command_module() -> None:
    modules = {module for module, _ in cli.COMMANDS.values()}
    assert modules <= set(_command_modules())


def test_the_root_group_resolves_every_table_name_to_the_real_command() -> None:
    root = cli.command()
    assert isinstance(root, LazyGroup)
    for name, (module, short_help) in cli.COMMANDS.items():
        command = root.get_command(Context(root), name)
        assert command is not None
        assert command.name == name
        assert _short_help(command) == short_help, module
        assert "Example" in (command.help or "") or hasattr(command, "commands"), name

"""The shape of the code, checked: one command model per recording command with its handler,
CLI command, import line and schema entry; layers that point one way; rooms of a size a
newcomer can read (modules <= 400 lines, functions <= 60)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import typer

from ledger.cli import trial as trial_cli
from ledger.domain.commands import COMMANDS, HANDLERS, Command
from ledger.jsonl import IMPORTABLE, import_line_schema

REPO = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _click_commands() -> dict[str, Any]:
    app = typer.Typer()
    trial_cli.register(app)
    group = typer.main.get_command(app)
    return dict(group.commands)  # type: ignore[attr-defined]


def test_every_command_model_has_one_handler_and_the_handler_map_nothing_else() -> None:
    assert set(HANDLERS) == set(COMMANDS)
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)


@pytest.mark.parametrize("model", COMMANDS, ids=lambda m: m.name)
def test_every_command_model_has_a_cli_command_whose_help_is_the_models(
    model: type[Command],
) -> None:
    command = _click_commands()[model.name]
    assert command.help is not None
    assert command.help.split("\n")[0] == (model.__doc__ or "").strip().split("\n")[0]
    options = {opt for p in command.params for opt in p.opts}
    assert {"--db", "--key", "--subject", "--date", "--json"} <= options


@pytest.mark.parametrize("model", COMMANDS, ids=lambda m: m.name)
def test_every_importable_command_is_an_import_line_and_in_the_schema(
    model: type[Command],
) -> None:
    schema = import_line_schema()
    mapping = schema["discriminator"]["mapping"]
    if not model.importable:
        assert model not in IMPORTABLE
        assert model.name not in mapping
        return
    assert model in IMPORTABLE
    assert mapping[model.name] == f"#/$defs/{model.__name__}"
    definition = schema["$defs"][model.__name__]
    assert definition["required"][:3] == ["command", "subject_id", "date"]
    fields = set(model.model_fields)
    assert set(definition["properties"]) == fields
    assert all(definition["properties"][f].get("description") for f in fields - {"command"})


def test_only_a_signature_is_not_importable() -> None:
    """An import file is one commit of authorship; a signature carries its own meaning."""
    assert [c.name for c in COMMANDS if not c.importable] == ["sign"]


# --------------------------------------------------------------------------- layers

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "core",
        (
            "ledger.errors",
            "ledger.events",
            "ledger.integrity",
            "ledger.protocol",
            "ledger.input_limits",
            "ledger.chain",
            "ledger.storage_errors",
        ),
    ),
    ("domain", ("ledger.subject", "ledger.domain", "ledger.registry", "ledger.jsonl")),
    (
        "application",
        (
            "ledger.store",
            "ledger.verify",
            "ledger.verifier_state",
            "ledger.service",
            "ledger.bundle",
            "ledger.backup",
            "ledger.copy",
            "ledger.proofs",
            "ledger.recording",
            "ledger.proposals",
            "ledger.remote",
            "projections",
        ),
    ),
    ("entry", ("ledger.cli", "ledger.server", "cli")),
)


def _layer(module: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> list[Path]:
    found = [REPO / "cli.py"]
    for top in ("ledger", "projections"):
        found.extend(sorted((REPO / top).rglob("*.py")))
    return found


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [_module_name(p) for p in _sources() if _layer(_module_name(p)) is None]
    assert unplaced in ([], ["ledger"]), unplaced


def test_layers_point_one_way_core_domain_application_entry() -> None:
    """A module imports only its own layer or lower ones (function-local imports too)."""
    upward: list[str] = []
    for path in _sources():
        module = _module_name(path)
        rank = _layer(module)
        if rank is None:
            continue
        for imported in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            target = _layer(imported)
            if target is not None and target > rank:
                upward.append(f"{module} ({LAYERS[rank][0]}) imports {imported}")
    assert upward == []


# --------------------------------------------------------------------------- sizes


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(REPO)): n
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long: dict[str, int] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(REPO)}:{node.lineno} {node.name}"] = lines
    assert long == {}

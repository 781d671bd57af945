"""``proof``: RFC 9162 inclusion and consistency proofs, JSON as the test vectors have them."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json
from ledger.proofs import consistency, inclusion
from ledger.store import LedgerReader

proof_app = typer.Typer(help="RFC 9162 inclusion and consistency proofs (JSON as the vectors).")


@proof_app.command("inclusion")
def proof_inclusion(
    db: DbOption,
    position: Annotated[int, typer.Option("--position", help="Ledger position (from 1).")],
    tree_size: Annotated[
        int | None, typer.Option("--tree-size", help="Tree size (default: all).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Prove that the event at POSITION is in the tree.

    JSON: {leafIdx, treeSize, leafHash, root, proof}, hashes base64, leafIdx = position - 1.

    Example: trial-ledger proof inclusion --db trial.db --position 42 --json
    """
    with LedgerReader(db) as reader:
        doc = inclusion(reader, position, tree_size)
    if json_out:
        emit_json(doc)
    else:
        console.print(
            f"position {position} (leafIdx {doc['leafIdx']}) in tree of {doc['treeSize']}: "
            f"root {doc['root']}"
        )
        for step in doc["proof"]:
            console.print(f"  {step}")


@proof_app.command("consistency")
def proof_consistency(
    db: DbOption,
    from_: Annotated[int, typer.Option("--from", help="The earlier tree size.")],
    to: Annotated[
        int | None, typer.Option("--to", help="The later tree size (default: all).")
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Prove the tree of size --to extends the tree of size --from.

    JSON: {size1, size2, root1, root2, proof}, hashes base64.

    Example: trial-ledger proof consistency --db trial.db --from 1000 --to 2000 --json
    """
    with LedgerReader(db) as reader:
        doc = consistency(reader, from_, to)
    if json_out:
        emit_json(doc)
    else:
        console.print(f"{doc['size1']} -> {doc['size2']}: {doc['root1']} -> {doc['root2']}")
        for step in doc["proof"]:
            console.print(f"  {step}")


def register(app: typer.Typer) -> None:
    app.add_typer(proof_app, name="proof")

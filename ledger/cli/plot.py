"""``plot KIND``: the trial's pictures (PNG or SVG) drawn from the verified ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.common import DbOption, JsonFlag, console, emit_json
from ledger.cli.export_common import AgainstOption, SponsorKeyOption, fresh_out, open_verified
from ledger.errors import UsageError

KINDS = ("swimmer", "waterfall", "spider", "km-ttp", "km-dor")
SUFFIXES = (".png", ".svg")


def plot(
    kind: Annotated[
        str,
        typer.Argument(
            metavar="KIND", help="swimmer, waterfall, spider, km-ttp or km-dor.", show_default=False
        ),
    ],
    db: DbOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="The picture to write, FILE.png or FILE.svg (must not exist).",
        ),
    ],
    against: AgainstOption = None,
    sponsor_key: SponsorKeyOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Draw the trial's pictures (swimmer, waterfall, spider, Kaplan-Meier) from the ledger.

    The ledger is verified first (exit 1 and nothing written if it does not verify). KIND:
    swimmer (one lane per enrolled subject: regimens as coloured segments over months since
    the treatment start, the rules' category at every assessment, progressions, an arrow for
    each subject still on study), waterfall (best % change of serum M-protein from the baseline
    of `patient`, bars coloured by the best confirmed response, lines at -25, -50 and -90 %),
    spider (% change of serum M-protein over months since the treatment start), km-ttp and
    km-dor (Kaplan-Meier of time to progression and duration of response, exactly the
    estimates of `summary`, with censoring ticks and the numbers at risk every 6 months).
    Every picture states its population and the ledger position and root it shows, in its
    footer and in the file's metadata (Title, Description). The format is the suffix of --out
    (.png at 100 dpi, or .svg); --out is never overwritten and appears only when complete.

    --json prints {"kind", "title", "population", "n", "subjects" (the ids, in the order drawn),
    "excluded" (list of {"subject_id", "reason"}), "figures" (km-*: {"endpoint", "n",
    "events", "censored", "median_days", "median_months", "steps" (list of {"day",
    "survival"}), "censored_days", "at_risk" (list of {"day", "at_risk"})}; else {}),
    "position", "root", "provenance": {"trial_id", "ledger_id", "position", "root", "commits",
    "checkpoints_checked", "against_checkpoint", "sponsor_key"}, "out", "format", "bytes",
    "width_px", "height_px", "dpi"}.

    Example: trial-ledger plot waterfall --db trial.db --out waterfall.svg --json
    """
    _check(kind, out)
    from projections.exports.plots import draw  # noqa: PLC0415 - kept off --help's path

    with open_verified(db, against, sponsor_key, out) as source:
        info = draw(kind, source, out)
    if json_out:
        emit_json(info.to_json())
        return
    console.print(
        f"{info.title} written to {out} ({info.format}, {info.width_px}x{info.height_px} px, "
        f"{info.bytes:,} bytes): {info.population}; ledger position {info.position}, root "
        f"{info.root}",
        markup=False,
    )


def _check(kind: str, out: Path) -> None:
    """Refuse (exit 2, before the ledger is read) what cannot be drawn as asked."""
    if kind not in KINDS:
        raise UsageError(f"KIND {kind}: not a picture drawn here; use one of {', '.join(KINDS)}")
    if out.suffix.lower() not in SUFFIXES:
        raise UsageError(
            f"--out {out}: the file name must end in .png or .svg (the format is the suffix)"
        )
    fresh_out(out)


def register(app: typer.Typer) -> None:
    app.command("plot")(plot)

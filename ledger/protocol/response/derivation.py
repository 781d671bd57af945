"""Rule-derived category of one assessment: IMWG 2006 uniform criteria with EBMT 1998 MR.

Sources: Durie et al., Leukemia 2006;20:1467 (IMWG uniform response criteria, "IMWG 2006");
Bladé et al., Br J Haematol 1998;102:1115 (EBMT/IBMTR/ABMTR criteria with minimal response,
"EBMT 1998"); the response table of ``protocol/NCT00635154.md``. Every threshold is a field of
:class:`~ledger.protocol.parameters.ResponseThresholds` or
:class:`~ledger.protocol.parameters.ConfirmationRules`.

How :func:`derive_response` reads the table (each point cites its rule id):

* Decreases are percent of baseline; increases for progression are from the nadir, the lowest
  value so far with the baseline included and the current assessment excluded.
* A marker (serum or urine M-protein) is used for CR/VGPR/PR/MR only if measurable at baseline
  (present and >= the IMWG 2006 measurable level) [RESP-NOT-MEASURABLE]. Progression applies to
  every marker with a nadir, measurable or not (new urine M-protein >= 200 mg is progression).
* Where serum and urine disagree the lowest category wins [RESP-LOWEST-WINS].
* A measurement a category needs that is missing drops the result to the next category down
  [RESP-MISSING-DROP]: categories are tried best first and the first one whose every condition
  is known to hold is taken. A missing value can therefore never raise a category; nor can it
  establish progression, which needs positive evidence.
* Progression by any single criterion gives PD [RESP-PD-*]; it is checked before responses.
  Marrow: >= 25% above the nadir and an absolute rise >= 10 percentage points (the protocol's
  "absolute >= 10%" read, like urine's "absolute >= 200 mg", as a rise). A plasmacytoma is new
  only when the baseline or an earlier assessment of the line recorded none; a history that
  never recorded its absence cannot show "new".
* Comparisons are exact Decimal arithmetic (no division); percentages in ``values_used`` are
  rounded to 0.01 for display only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from ledger.errors import ValidationError
from ledger.protocol.parameters import ProtocolParameters, ResponseThresholds
from ledger.protocol.response.categories import Category, DerivedResponse, Measurement, worst


@dataclass(frozen=True)
class _Marker:
    name: str
    unit: str
    baseline: Decimal | None
    nadir: Decimal | None
    current: Decimal | None
    measurable: bool


_CENT = Decimal("0.01")


def _percent_change(reference: Decimal | None, current: Decimal | None) -> str:
    if reference is None or current is None or reference == 0:
        return "n/a"
    with localcontext() as ctx:
        ctx.prec = 28
        return str(((current - reference) * 100 / reference).quantize(_CENT, ROUND_HALF_EVEN))


def _marker(
    name: str,
    unit: str,
    *,
    read: Callable[[Measurement], Decimal | None],
    history: Sequence[Measurement],
    current: Measurement,
    measurable_min: Decimal | None,
) -> _Marker:
    baseline = read(history[0])
    seen = [v for v in (read(m) for m in history) if v is not None]
    measurable = (
        measurable_min is not None
        and baseline is not None
        and baseline > 0
        and baseline >= measurable_min
    )
    return _Marker(name, unit, baseline, min(seen, default=None), read(current), measurable)


def _decreased_by(baseline: Decimal, current: Decimal, pct: Decimal) -> bool:
    """(baseline - current) >= pct% of baseline, exactly (IMWG 2006: change from baseline)."""
    return (baseline - current) * 100 >= pct * baseline


def _increased_from_nadir(m: _Marker, pct: Decimal, absolute: Decimal) -> bool:
    """current >= nadir + pct% of nadir and current - nadir >= absolute (IMWG 2006 PD)."""
    if m.nadir is None or m.current is None:
        return False
    rise = m.current - m.nadir
    return rise * 100 >= pct * m.nadir and rise >= absolute


def _serum_progressed(m: _Marker, r: ResponseThresholds) -> bool:
    """IMWG 2006 PD, serum: >= 25% and >= 0.5 g/dL above the nadir.

    From a nadir >= 5 g/dL an absolute rise of >= 1 g/dL suffices (IMWG 2006 footnote: "increases
    of >= 1 g/dL are sufficient"; read as also needing 25%, the clause could never matter, since
    25% of 5 g/dL is already 1.25 g/dL). Consequence, by design of the criterion: a nadir of
    5.00 g/dL makes 6.00 progression while a lower nadir of 4.99 g/dL needs 6.24.
    """
    if m.nadir is not None and m.current is not None and m.nadir >= r.pd_serum_high_nadir_g_dl:
        return m.current - m.nadir >= r.pd_serum_high_nadir_min_abs_g_dl
    return _increased_from_nadir(m, r.pd_serum_min_increase_pct, r.pd_serum_min_abs_g_dl)


def _progression(
    *,
    serum: _Marker,
    urine: _Marker,
    marrow: _Marker,
    history: Sequence[Measurement],
    current: Measurement,
    r: ResponseThresholds,
) -> list[tuple[str, str]]:
    """Every PD criterion that holds (IMWG 2006 PD; any single one suffices). ``history``: the
    baseline and the assessments before ``current``."""
    found: list[tuple[str, str]] = []
    if _serum_progressed(serum, r):
        found.append(
            ("RESP-PD-SERUM", f"serum M-protein {serum.current} g/dL rose from nadir {serum.nadir}")
        )
    if _increased_from_nadir(urine, r.pd_urine_min_increase_pct, r.pd_urine_min_abs_mg_24h):
        found.append(
            (
                "RESP-PD-URINE",
                f"urine M-protein {urine.current} mg/24h rose from nadir {urine.nadir}",
            )
        )
    if _increased_from_nadir(marrow, r.pd_marrow_min_increase_pct, r.pd_marrow_min_abs_pct):
        found.append(
            (
                "RESP-PD-MARROW",
                f"marrow plasma cells {marrow.current}% rose from nadir {marrow.nadir}%",
            )
        )
    if current.new_bone_lesions is True:
        found.append(("RESP-PD-BONE", "new or growing lytic bone lesions"))
    if current.plasmacytoma is True and any(m.plasmacytoma is False for m in history):
        found.append(
            ("RESP-PD-PLASMACYTOMA", "a plasmacytoma recorded absent before is now present")
        )
    if current.hypercalcaemia is True:
        found.append(("RESP-PD-CALCIUM", "hypercalcaemia attributed to myeloma"))
    return found


def _serum_level(
    baseline: Decimal, current: Decimal, r: ResponseThresholds
) -> tuple[Category, str | None]:
    """Serum: VGPR >= 90% decrease (an electrophoresis-negative, IFE-positive serum is a 100%
    decrease), PR >= 50%, MR 25-49% (EBMT 1998), otherwise SD."""
    if _decreased_by(baseline, current, r.vgpr_serum_min_decrease_pct):
        return Category.VGPR, "RESP-VGPR-SERUM"
    if _decreased_by(baseline, current, r.pr_serum_min_decrease_pct):
        return Category.PR, "RESP-PR-SERUM"
    if _decreased_by(baseline, current, r.mr_serum_min_decrease_pct):
        return Category.MR, "RESP-MR-SERUM"
    return Category.SD, None


def _urine_level(
    baseline: Decimal, current: Decimal, r: ResponseThresholds
) -> tuple[Category, str | None]:
    """Urine: VGPR < 100 mg/24h; PR >= 90% decrease or < 200 mg/24h; MR 50-89% decrease and not
    already PR (EBMT's "still > 200 mg" read as ">= 200", so 200 mg exactly is MR, not a gap)."""
    if current < r.vgpr_urine_below_mg_24h:
        return Category.VGPR, "RESP-VGPR-URINE"
    if (
        _decreased_by(baseline, current, r.pr_urine_min_decrease_pct)
        or current < r.pr_urine_below_mg_24h
    ):
        return Category.PR, "RESP-PR-URINE"
    if _decreased_by(baseline, current, r.mr_urine_min_decrease_pct):
        return Category.MR, "RESP-MR-URINE"
    return Category.SD, None


def _check_dates(baseline: Measurement, prior: Sequence[Measurement], current: Measurement) -> None:
    if current.assessed_on <= baseline.assessed_on:
        raise ValidationError(
            "current.assessed_on",
            current.assessed_on,
            f"must be after the baseline assessment ({baseline.assessed_on})",
        )
    for p in prior:
        if not baseline.assessed_on <= p.assessed_on < current.assessed_on:
            raise ValidationError(
                "prior.assessed_on",
                p.assessed_on,
                f"prior assessments lie between baseline ({baseline.assessed_on}) "
                f"and current ({current.assessed_on}, excluded)",
            )


def _values_used(
    markers: Sequence[_Marker], baseline: Measurement, current: Measurement
) -> dict[str, str]:
    def show(value: object) -> str:
        return "missing" if value is None else str(value)

    values: dict[str, str] = {}
    for m in markers:
        values[f"{m.name}.baseline"] = show(m.baseline)
        values[f"{m.name}.nadir"] = show(m.nadir)
        values[f"{m.name}.current"] = show(m.current)
        values[f"{m.name}.change_from_baseline_pct"] = _percent_change(m.baseline, m.current)
        values[f"{m.name}.change_from_nadir_pct"] = _percent_change(m.nadir, m.current)
    for field in (
        "serum_ife_negative",
        "urine_ife_negative",
        "plasmacytoma",
        "new_bone_lesions",
        "hypercalcaemia",
    ):
        values[field] = show(getattr(current, field))
    values["baseline.plasmacytoma"] = show(baseline.plasmacytoma)
    return values


def _dedupe(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _markers(
    history: Sequence[Measurement], current: Measurement, r: ResponseThresholds
) -> tuple[_Marker, _Marker, _Marker]:
    """Serum and urine M-protein (measurable at their IMWG 2006 levels) and marrow plasma cells
    (never measurable: used for CR and progression only)."""
    serum = _marker(
        "serum",
        "g/dL",
        read=lambda m: m.serum_m_protein_g_dl,
        history=history,
        current=current,
        measurable_min=r.serum_measurable_min_g_dl,
    )
    urine = _marker(
        "urine",
        "mg/24h",
        read=lambda m: m.urine_m_protein_mg_24h,
        history=history,
        current=current,
        measurable_min=r.urine_measurable_min_mg_24h,
    )
    marrow = _marker(
        "marrow",
        "%",
        read=lambda m: m.marrow_plasma_cells_pct,
        history=history,
        current=current,
        measurable_min=None,
    )
    return serum, urine, marrow


def _marker_level(
    serum: _Marker,
    urine: _Marker,
    r: ResponseThresholds,
    rule_ids: list[str],
    reasons: list[str],
) -> tuple[Category | None, bool]:
    """The M-protein level: the lowest category over the markers measurable at baseline (None:
    unknown, or no marker measurable), and whether a measurable marker is missing now. The rules
    and reasons that apply are appended to ``rule_ids`` and ``reasons``."""
    levels: list[tuple[_Marker, Category]] = []
    missing: list[_Marker] = []
    for m, level_of in ((serum, _serum_level), (urine, _urine_level)):
        if not m.measurable or m.baseline is None:
            rule_ids.append("RESP-NOT-MEASURABLE")
            reasons.append(f"{m.name} baseline {m.baseline} {m.unit} not measurable: not used")
        elif m.current is None:
            missing.append(m)
        else:
            level, rule = level_of(m.baseline, m.current, r)
            levels.append((m, level))
            if rule is not None:
                rule_ids.append(rule)
    if missing:
        rule_ids.append("RESP-MISSING-DROP")
        reasons.append(
            "measurable marker missing now: "
            + ", ".join(m.name for m in missing)
            + "; no M-protein response can be established"
        )
        return None, True
    if not levels:
        return None, False
    marker_level = worst(*(level for _, level in levels))
    if len({level for _, level in levels}) > 1:
        rule_ids.append("RESP-LOWEST-WINS")
        reasons.append(
            "serum and urine disagree ("
            + ", ".join(f"{m.name} {level}" for m, level in levels)
            + f"): the lowest, {marker_level}, wins"
        )
    return marker_level, False


def _cr_conditions(
    current: Measurement, r: ResponseThresholds, marker_level: Category | None, *, missing: bool
) -> dict[str, bool | None]:
    """CR (IMWG 2006): IFE negative serum and urine, < 5% marrow plasma cells, no plasmacytoma,
    every measurable marker at VGPR level; each condition True, False or None (not known)."""
    marrow_now = current.marrow_plasma_cells_pct
    return {
        "serum IFE negative": current.serum_ife_negative,
        "urine IFE negative": current.urine_ife_negative,
        f"marrow plasma cells < {r.cr_marrow_below_pct}%": (
            None if marrow_now is None else marrow_now < r.cr_marrow_below_pct
        ),
        "no plasmacytoma": None if current.plasmacytoma is None else not current.plasmacytoma,
        "M-protein at VGPR level": (
            None if missing else (marker_level is None or marker_level is Category.VGPR)
        ),
    }


def _minimal_response_held(
    current: Measurement, rule_ids: list[str], reasons: list[str]
) -> Category:
    """MR also needs no new lytic lesions (EBMT 1998): MR when their absence is recorded, SD
    when it is not [RESP-MISSING-DROP]."""
    if current.new_bone_lesions is None:
        rule_ids.append("RESP-MISSING-DROP")
        reasons.append("MR needs the absence of new lytic lesions (EBMT 1998): not recorded")
        return Category.SD
    rule_ids.append("RESP-MR-BONE")
    return Category.MR


def derive_response(
    baseline: Measurement,
    prior: Sequence[Measurement],
    current: Measurement,
    params: ProtocolParameters,
) -> DerivedResponse:
    """The category of ``current`` by IMWG 2006 + EBMT 1998 (see the module docstring).

    ``prior`` holds the assessments between baseline and current (any order); they only
    contribute to the nadir. Order of evaluation: PD by any single criterion; else CR (serum and
    urine IFE negative, marrow plasma cells < 5%, no plasmacytoma, every measurable marker at
    VGPR level); else the lowest of the serum and urine categories (MR also needs no new lytic
    lesions, EBMT 1998); else SD.
    """
    _check_dates(baseline, prior, current)
    r = params.response
    history = (baseline, *prior)
    serum, urine, marrow = _markers(history, current, r)
    values = _values_used((serum, urine, marrow), baseline, current)

    def result(
        category: Category, rule_ids: Sequence[str], reasons: Sequence[str]
    ) -> DerivedResponse:
        return DerivedResponse(
            amendment=params.amendment,
            assessed_on=current.assessed_on,
            category=category,
            rule_ids=_dedupe(rule_ids),
            values_used=values,
            reasons=tuple(reasons),
        )

    progression = _progression(
        serum=serum, urine=urine, marrow=marrow, history=history, current=current, r=r
    )
    if progression:
        return result(
            Category.PD, [rule for rule, _ in progression], [why for _, why in progression]
        )

    rule_ids: list[str] = []
    reasons: list[str] = []
    marker_level, missing = _marker_level(serum, urine, r, rule_ids, reasons)
    cr_conditions = _cr_conditions(current, r, marker_level, missing=missing)
    if all(held is True for held in cr_conditions.values()):
        return result(
            Category.CR,
            [*rule_ids, "RESP-CR"],
            [*reasons, "CR: " + ", ".join(cr_conditions)],
        )
    if not any(held is False for held in cr_conditions.values()):
        absent = [name for name, held in cr_conditions.items() if held is None]
        rule_ids.append("RESP-MISSING-DROP")
        reasons.append("CR not established, missing: " + ", ".join(absent))

    if marker_level is Category.MR:
        marker_level = _minimal_response_held(current, rule_ids, reasons)
    if marker_level in (Category.VGPR, Category.PR, Category.MR):
        return result(marker_level, rule_ids, [*reasons, f"{marker_level} by M-protein"])
    return result(Category.SD, [*rule_ids, "RESP-SD"], [*reasons, "SD: no response, no PD"])

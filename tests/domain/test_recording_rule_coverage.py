"""Meta-tests: every recording rule has a test, and every rule a message cites is known."""

from __future__ import annotations

import re
from pathlib import Path

from ledger.domain import RECORDING_RULE_IDS
from ledger.protocol import eligibility, response, schedule

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_SOURCES = sorted((ROOT / "ledger" / "domain").glob("*.py"))
TEST_SOURCES = [
    *sorted((ROOT / "tests" / "domain").glob("test_*.py")),
    ROOT / "tests" / "cli" / "test_trial_commands.py",
]
PROTOCOL_RULE_IDS = eligibility.RULE_IDS | response.RULE_IDS | schedule.RULE_IDS
CITED = re.compile(r"\[([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+|ELIGIBILITY)\]")


def _text(paths: list[Path]) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in paths if p.exists())


def test_every_recording_rule_has_a_test_that_names_it() -> None:
    tests = _text([p for p in TEST_SOURCES if p.name != Path(__file__).name])
    untested = sorted(rule for rule in RECORDING_RULE_IDS if rule not in tests)
    assert untested == []


def test_every_rule_a_refusal_cites_is_a_known_rule() -> None:
    cited = set(CITED.findall(_text(DOMAIN_SOURCES)))
    known = set(RECORDING_RULE_IDS) | PROTOCOL_RULE_IDS | {"ELIGIBILITY"}
    assert sorted(cited - known) == []
    assert cited

"""The site registry from the command line: `sites add|list`, and what refers to a site.

Every refusal exits 2, names the option or field, the value and the rule, and writes nothing:
the tree size and root `verify --json` reports are unchanged and no key file is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import cli
from ledger.service import today

PASS = "correct horse battery staple"
GENESIS = "2002-11-01"
ARABIC_INDIC = "MC0282-001-0\u0661\u0667"  # 017 with two Arabic-Indic digits


@pytest.fixture(autouse=True)
def passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAL_LEDGER_PASSPHRASE", PASS)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.run(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger created on GENESIS with sites 001-003 and a coordinator of site 001."""
    folder = tmp_path_factory.mktemp("sites")
    db, sponsor = str(folder / "t.db"), str(folder / "sponsor.key")
    os.environ["TRIAL_LEDGER_PASSPHRASE"] = PASS
    try:
        assert cli.run([
            "init", "--db", db, "--sponsor-name", "Sponsor Office", "--date", GENESIS,
            "--sponsor-key-out", sponsor, "--ledger-key-out", str(folder / "ledger.key"),
        ]) == 0  # fmt: skip
        for site in ("001", "002", "003"):
            args = ["sites", "add", "--db", db, "--sponsor-key", sponsor, "--site", site]
            assert cli.run([*args, "--label", f"Site {site}"]) == 0
        assert cli.run([
            "keys", "add", "--db", db, "--sponsor-key", sponsor, "--name", "Cole Hart",
            "--role", "coordinator", "--site", "001", "--out", str(folder / "cole.key"),
        ]) == 0  # fmt: skip
    finally:
        del os.environ["TRIAL_LEDGER_PASSPHRASE"]
    return folder


@pytest.fixture
def work(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "w"
    shutil.copytree(template, target)
    return target


def ledger_state(capsys: pytest.CaptureFixture[str], folder: Path) -> tuple[int, str]:
    """(tree size, root) as `verify --json` reports them; the ledger must verify."""
    code, out, err = run(capsys, "verify", "--db", str(folder / "t.db"), "--json")
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    return int(report["tree_size"]), str(report["root"])


def refused(result: tuple[int, str, str], *fragments: str) -> None:
    code, out, err = result
    assert code == 2, result
    assert out == ""
    assert err.startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def sites_add(folder: Path, site: str, *more: str) -> list[str]:
    return [
        "sites", "add", "--db", str(folder / "t.db"),
        "--sponsor-key", str(folder / "sponsor.key"), "--site", site, *more,
    ]  # fmt: skip


def keys_add(folder: Path, site: str, *more: str, role: str = "coordinator") -> list[str]:
    return [
        "keys", "add", "--db", str(folder / "t.db"),
        "--sponsor-key", str(folder / "sponsor.key"), "--name", "Nia Newcomer",
        "--role", role, "--site", site, "--out", str(folder / "nia.key"), *more,
    ]  # fmt: skip


# --------------------------------------------------------------------------- sites add | list


def test_sites_add_registers_a_site_and_list_shows_it(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size, _ = ledger_state(capsys, work)
    code, out, err = run(
        capsys,
        *sites_add(work, "004", "--label", "Site 004", "--reason", "fourth site activated"),
        "--date", "2003-03-01", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {
        "action": "registered",
        "site": "004",
        "label": "Site 004",
        "registered_at": size + 1,
        "effective_date": "2003-03-01",
        "reason": "fourth site activated",
    }
    code, out, _ = run(capsys, "sites", "list", "--db", str(work / "t.db"), "--json")
    assert code == 0
    listed = json.loads(out)["sites"]
    assert [(s["site"], s["label"]) for s in listed] == [
        ("001", "Site 001"),
        ("002", "Site 002"),
        ("003", "Site 003"),
        ("004", "Site 004"),
    ]
    assert listed[0] == {
        "site": "001",
        "label": "Site 001",
        "registered_at": 2,
        "effective_date": today().isoformat(),
        "reason": "site activated for the trial",
    }
    assert ledger_state(capsys, work)[0] == size + 1


def test_sites_list_prints_a_table(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sites", "list", "--db", str(work / "t.db"))
    assert code == 0
    assert "Site 002" in out
    assert "site activated for the trial" in out


def test_sites_add_refuses_a_site_registered_twice(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_state(capsys, work)
    refused(
        run(capsys, *sites_add(work, "002", "--label", "Site 002")),
        "site='002' refused: a site is registered once; site 002 (Site 002, registered at "
        "position 3)",
    )
    assert ledger_state(capsys, work) == before


@pytest.mark.parametrize("site", ["4", "0004", "00\u0664", "*", "O04"])
def test_sites_add_refuses_a_code_that_is_not_three_ascii_digits(
    work: Path, capsys: pytest.CaptureFixture[str], site: str
) -> None:
    before = ledger_state(capsys, work)
    refused(
        run(capsys, *sites_add(work, site, "--label", "Site 004")),
        f"site={site!r} refused: String should match pattern '^[0-9]{{3}}$'",
    )
    assert ledger_state(capsys, work) == before


def test_sites_add_refuses_a_date_after_today(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_state(capsys, work)
    tomorrow = (today() + timedelta(days=1)).isoformat()
    refused(
        run(capsys, *sites_add(work, "004", "--label", "Site 004", "--date", tomorrow)),
        f"effective_date='{tomorrow}' refused: a site is not registered ahead of time",
    )
    assert ledger_state(capsys, work) == before


def test_sites_add_signed_by_a_key_not_the_sponsors_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_state(capsys, work)
    args = sites_add(work, "004", "--label", "Site 004")
    args[args.index("--sponsor-key") + 1] = str(work / "cole.key")
    refused(run(capsys, *args), "role 'coordinator'", "may not record SiteRegistered")
    assert ledger_state(capsys, work) == before


def test_sites_help_explains_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "sites", "add", "--help")
    assert code == 0
    assert "Example: trial-ledger sites add --db trial.db --sponsor-key sponsor.key" in out
    code, out, _ = run(capsys, "sites", "list", "--help")
    assert code == 0
    assert "Example: trial-ledger sites list --db trial.db --json" in out


# --------------------------------------------------------------------------- keys add


def test_refuses_key_for_unregistered_site(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = ledger_state(capsys, work)
    refused(
        run(capsys, *keys_add(work, "999")),
        "site='999' refused: a key is registered for a site of this trial's registry",
        "registered sites: 001, 002, 003",
    )
    assert ledger_state(capsys, work) == before
    assert not (work / "nia.key").exists()
    assert not (work / "nia.key.pub").exists()


def test_keys_add_refuses_all_sites_for_an_investigator(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_state(capsys, work)
    refused(
        run(capsys, *keys_add(work, "*", role="investigator")),
        "site='*' refused: the key of a site-bound role (investigator) signs for one registered "
        "site; * (all sites) is for sponsor, monitor, data-manager, auditor, consumer keys",
    )
    assert ledger_state(capsys, work) == before
    assert not (work / "nia.key").exists()


def test_keys_add_accepts_all_sites_for_a_monitor(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *keys_add(work, "*", "--json", role="monitor"))
    assert code == 0, err
    assert json.loads(out)["site"] == "*"


def test_keys_add_refuses_an_expiry_before_today(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_state(capsys, work)
    yesterday = (today() - timedelta(days=1)).isoformat()
    refused(
        run(capsys, *keys_add(work, "001", "--expires", yesterday)),
        f"--expires='{yesterday}' refused: a key's expiry (its last signing day) may not be "
        f"before the day it is registered ({today().isoformat()})",
    )
    assert ledger_state(capsys, work) == before
    assert not (work / "nia.key").exists()


def test_keys_add_accepts_an_expiry_of_today(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *keys_add(work, "001", "--expires", today().isoformat(), "--json"))
    assert code == 0, err
    assert json.loads(out)["expires_on"] == today().isoformat()


# --------------------------------------------------------------------------- subjects


def screen(folder: Path, subject: str, site: str) -> list[str]:
    return [
        "screen", "--db", str(folder / "t.db"), "--key", str(folder / "cole.key"),
        "--subject", subject, "--site", site, "--age", "61", "--sex", "F",
        "--date", "2003-01-06",
    ]  # fmt: skip


def test_screen_refuses_a_subject_at_an_unregistered_site(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_state(capsys, work)
    refused(
        run(capsys, *screen(work, "MC0282-004-001", "004")),
        "site='004' refused: SubjectScreened is recorded only for a subject of a site in this "
        "trial's registry",
        "registered sites: 001, 002, 003",
    )
    assert ledger_state(capsys, work) == before


def test_screen_refuses_subject_id_with_arabic_indic_digits(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_state(capsys, work)
    refused(
        run(capsys, *screen(work, ARABIC_INDIC, "001")),
        "--subject=",
        "refused: [REC-SUBJECT-ID] expected MC0282-NNN-NNN",
    )
    assert ledger_state(capsys, work) == before
    code, _, err = run(capsys, *screen(work, "MC0282-001-017", "001"))
    assert code == 0, err


def test_patient_refuses_subject_id_with_arabic_indic_digits(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(
        run(capsys, "patient", ARABIC_INDIC, "--db", str(work / "t.db")),
        "expected a subject id such as MC0282-001-017",
    )


def test_log_describes_a_site_registration(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "log", "--db", str(work / "t.db"), "--json")
    assert code == 0, err
    details = [e["detail"] for e in json.loads(out)["events"] if e["event"] == "SiteRegistered"]
    assert details
    assert all(d.startswith("site ") and "): " in d for d in details), details

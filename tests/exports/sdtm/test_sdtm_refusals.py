"""What ``export sdtm`` refuses: an existing --out, an unknown --format (exit 2), an altered
ledger (exit 1); nothing is written in any case, not even a temporary folder. The refusals of
input run in-process (``cli.run``, as ``main`` runs them); the altered ledger in a process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import run
from tests.exports.conftest import Demo, alter_event, cli
from tests.exports.sdtm.conftest import export


def test_an_existing_out_folder_is_refused_and_left_as_it_was(
    demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sdtm"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert run(["export", "sdtm", "--db", str(demo.db), "--out", str(out)]) == 2
    assert f"--out {out}: already exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_an_empty_existing_out_folder_is_refused_too(
    demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert run(["export", "sdtm", "--db", str(demo.db), "--out", str(out)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_an_unknown_format_is_refused_naming_the_option(
    demo: Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sdtm"
    args = ["export", "sdtm", "--db", str(demo.db), "--out", str(out), "--format", "csv"]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert "--format csv" in err
    assert "json or xpt" in err
    assert not out.exists()


def test_an_altered_ledger_is_refused_and_nothing_is_written(demo: Demo, tmp_path: Path) -> None:
    copy = demo.copy_to(tmp_path / "altered")
    alter_event(copy.db, "AdverseEventReported", b'"grade":', b'"grade": ')
    out = tmp_path / "sdtm"
    done = cli("export", "sdtm", "--db", str(copy.db), "--out", str(out))
    assert done.returncode == 1, done.stderr
    assert "does not verify" in done.stderr
    assert "nothing was exported" in done.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["altered"]


def test_against_a_checkpoint_and_the_sponsor_key_are_stated_in_the_manifest(
    demo: Demo, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "checkpoint.txt"
    done = cli(
        "checkpoint", "--db", str(demo.db), "--ledger-key", str(demo.keys / "ledger.key"),
        "--out", str(checkpoint),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = tmp_path / "sdtm"
    result = export(
        demo.db, out, "--against", str(checkpoint), "--sponsor-key", str(demo.sponsor_pub)
    )
    assert result["provenance"]["against_checkpoint"] is True
    assert result["provenance"]["sponsor_key"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.txt", "sdtm"]


def test_a_failure_while_writing_leaves_no_folder_and_no_partial_files(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import projections.exports.sdtm as sdtm  # noqa: PLC0415
    from projections.exports import verified_source  # noqa: PLC0415
    from projections.exports.sdtm.columns import DM  # noqa: PLC0415

    def narrow(_s: object) -> Iterator[list[object]]:
        yield ["NCT00635154", "DM"]

    monkeypatch.setattr(sdtm, "SUBJECT_ROWS", ((DM, narrow),))
    out = tmp_path / "sdtm"
    with (
        verified_source(demo.db) as source,
        pytest.raises(sdtm.DatasetInvalid, match="DM: a row of 2 values for 24 columns"),
    ):
        sdtm.export_sdtm(source, out)
    assert list(tmp_path.iterdir()) == []

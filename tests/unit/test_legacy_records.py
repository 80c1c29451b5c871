"""Records sealed before the layout change still read (tests/data/records-v1, made by d88fe4d).

The package moved into stage folders; the record format did not change, so an
archive an auditor already holds must verify, list, show and export as before.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from converter.cli import cli

LEGACY = Path(__file__).resolve().parents[1] / "data" / "records-v1"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    copy = tmp_path / "records"
    shutil.copytree(LEGACY, copy)
    return copy


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_legacy_archive_verifies(archive: Path) -> None:
    result = invoke("records", "verify", "--all", "--records", str(archive))
    assert result.exit_code == 0, result.output
    assert "2 record(s) checked, 0 problem(s)" in result.output


def test_legacy_archive_lists_shows_and_exports(archive: Path) -> None:
    listed = invoke("records", "list", "--records", str(archive))
    assert listed.exit_code == 0 and listed.output.count("legacy-record") == 2, listed.output
    shown = invoke("records", "show", "20261130T084404Z", "--records", str(archive))
    assert "status     failed" in shown.output and "[x] prerequisites-1.1" in shown.output
    exported = invoke(
        "records", "export", "20261130T084404Z", "--format", "md", "--records", str(archive)
    )
    assert "about to fail" in exported.output and "hello from an old record" in exported.output


def test_a_changed_byte_in_a_legacy_record_still_fails(archive: Path) -> None:
    log = next(archive.glob("legacy-record/*/logs/*.log"))
    log.write_text(log.read_text(encoding="utf-8") + "tampered\n", encoding="utf-8")
    result = invoke("records", "verify", "--all", "--records", str(archive))
    assert result.exit_code == 1 and "logs/" in result.output, result.output

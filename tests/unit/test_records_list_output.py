"""``records list`` writes rows straight from SQLite: the output must be exactly what the
dict rows give (``json.dumps(list_rows(...), indent=2)`` and their table), whatever the
strings hold (quotes, backslashes, control characters, NUL, non-ASCII), with approvers,
resumes, dry runs and missing values; and an index that is absent or read-only still answers.

The rows come from real manifest files through the real SQLite index.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from converter.records import listing
from converter.records.index import RunFilter, index_row, list_runs, scan_rows

ODD = [
    'quote " inside',
    "back\\slash",
    "new\nline and\ttab",
    "bell \x07 and \x1f",
    "nul \x00 here",
    "ünïcödé タイトル \u2028 \x7f",
    "",
]


def _record(records: Path, runbook: str, run_id: str, manifest: dict) -> None:
    run_dir = records / runbook / run_id
    run_dir.mkdir(parents=True)
    manifest = {"run_id": run_id, "runbook": {"id": runbook, "title": "T"}, **manifest}
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _archive(records: Path) -> None:
    for i, text in enumerate(ODD):
        _record(
            records,
            "odd",
            f"20261128T10{i:02d}00Z-0000000{i}",
            {
                "runbook": {"id": "odd", "title": text},
                "status": "failed",
                "operator": text,
                "mode": "headless",
                "started_at": f"2026-11-28T10:{i:02d}:00.000Z",
                "finished_at": f"2026-11-28T10:{i:02d}:02.250Z",
                "failure": {"step": text or "1-1"},
            },
        )
    _record(
        records,
        "ééééééééééééééééééééééééééééé-long-runbook-id",
        "20261128T110000Z-aaaaaaaa",
        {
            "status": "succeeded",
            "operator": "オペレーター-with-a-long-name",
            "started_at": "2026-11-28T11:00:00.000Z",
            "finished_at": "2026-11-28T13:05:00.000Z",
            "dry_run": True,
        },
    )
    _record(
        records,
        "demo",
        "20261128T120000Z-bbbbbbbb",
        {
            "status": "succeeded",
            "operator": "bob",
            "started_at": "2026-11-28T12:00:00.000Z",
            "finished_at": "2026-11-28T12:01:05.000Z",
            "resumes": "20261128T115900Z-cccccccc",
            "rollback": {"status": "succeeded"},
            "approvals": [
                {"role": "dba", "principal": 'carol "c"', "valid": True},
                {"role": "sre", "principal": "mallory", "valid": False},
            ],
        },
    )
    _record(records, "demo", "20261128T130000Z-dddddddd", {"status": "interrupted"})


def _json(records: Path, where: RunFilter) -> str:
    return "".join(listing.listed_json(records, where, lambda: scan_rows(records)))


def _expected_json(records: Path, where: RunFilter) -> str:
    rows = listing.list_rows(records, list_runs(records, where))
    return json.dumps(rows, ensure_ascii=False, indent=2)


@pytest.mark.parametrize(
    "where",
    [RunFilter(), RunFilter(limit=3), RunFilter(runbook="odd", since="2026-11-28T10:02")],
)
def test_json_is_json_dumps_of_the_dict_rows(tmp_path, where):
    _archive(tmp_path)
    expected = _expected_json(tmp_path, where)
    assert _json(tmp_path, where) == expected
    rows = listing.listed_runs(tmp_path, where, lambda: scan_rows(tmp_path))
    assert listing.json_text(rows) == expected


def test_json_of_no_rows_is_an_empty_array(tmp_path):
    _archive(tmp_path)
    where = RunFilter(operator="nobody")
    assert _json(tmp_path, where) == "[]"
    assert json.loads(_expected_json(tmp_path, where)) == []


def test_an_absent_index_is_rebuilt_and_gives_the_same_answer(tmp_path):
    _archive(tmp_path)
    expected = _expected_json(tmp_path, RunFilter())
    table = listing.table_text(
        listing.listed_runs(tmp_path, RunFilter(), lambda: scan_rows(tmp_path))
    )
    (tmp_path / "index.sqlite").unlink()
    assert _json(tmp_path, RunFilter()) == expected
    (tmp_path / "index.sqlite").unlink()
    rows = listing.listed_runs(tmp_path, RunFilter(), lambda: scan_rows(tmp_path), for_table=True)
    assert listing.table_text(rows) == table


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_archive_answers_from_memory(tmp_path):
    _archive(tmp_path)
    expected = _expected_json(tmp_path, RunFilter())
    (tmp_path / "index.sqlite").unlink()
    tmp_path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        got = _json(tmp_path, RunFilter())
    finally:
        tmp_path.chmod(stat.S_IRWXU)
    assert got == expected
    assert not (tmp_path / "index.sqlite").exists()


def test_table_rows_are_the_dict_rows_table(tmp_path):
    _archive(tmp_path)
    dict_rows = listing.list_rows(tmp_path, list_runs(tmp_path, RunFilter()))
    tuples = listing.listed_runs(tmp_path, RunFilter(), lambda: scan_rows(tmp_path), for_table=True)
    assert listing.table_text(tuples) == listing.list_table(dict_rows)
    lines = listing.table_text(tuples).split("\n")
    assert lines[0].endswith("DURATION  APPROVERS")
    resumed, plan, last = lines[1], lines[2], lines[-1]
    assert last.split()[2:] == ["interrupted", "-", "-", "None", "None", "-", "-"], last
    assert resumed.endswith('1m05s  carol "c" (dba)  (resumes 20261128T115900Z-cccccccc)')
    # widths count characters, not bytes: 24 of the runbook id, 12 of the operator
    assert plan[27:52] == "é" * 24 + " " and plan[52:].startswith("dry run      -")
    assert "dry run" in plan and "  オペレーター-with- 2026-11-28T11" in plan and "2h05m" in plan
    assert len(plan.split("dry run")[0]) == 26 + 1 + 24 + 1


def test_index_row_values_survive_as_given(tmp_path):
    """The odd strings reach the JSON unchanged (escaped as json.dumps does)."""
    _archive(tmp_path)
    got = json.loads(_json(tmp_path, RunFilter()))
    titles = {row["title"] for row in got if row["runbook_id"] == "odd"}
    assert titles == set(ODD)
    row = index_row(tmp_path, tmp_path / "demo" / "20261128T120000Z-bbbbbbbb", {})
    assert row["approvers"] == "[]"

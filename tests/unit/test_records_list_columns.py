"""``records list``: status (dry runs named so), where a run stopped, rollback, operator,
approvers when present, and duration; ``--json`` carries the same fields.

The rows come from the real SQLite index, filled from real manifest files.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from converter.records import indexdb
from converter.records.index import RunFilter, index_row, list_runs
from converter.records.listing import list_rows, list_table


def _record(records: Path, run_id: str, manifest: dict) -> dict:
    run_dir = records / "demo" / run_id
    run_dir.mkdir(parents=True)
    manifest = {"run_id": run_id, "runbook": {"id": "demo", "title": "Demo"}, **manifest}
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return index_row(records, run_dir, manifest)


def _rows(tmp_path: Path) -> list[dict]:
    start = "2026-11-28T10:00:00.000Z"
    return [
        _record(
            tmp_path,
            "20261128T100000Z-00000001",
            {
                "status": "blocked",
                "operator": "alice",
                "started_at": start,
                "finished_at": "2026-11-28T10:00:02.500Z",
                "failure": {"step": "1-2", "status": "blocked", "reason": "unticked"},
            },
        ),
        _record(
            tmp_path,
            "20261128T100000Z-00000002",
            {
                "status": "failed",
                "operator": "bob",
                "started_at": start,
                "finished_at": "2026-11-28T10:01:05.000Z",
                "failure": {"step": "2-1", "status": "failed", "reason": "exit 1"},
                "rollback": {"status": "succeeded", "failed_step": None},
                "approvals": [
                    {"role": "dba", "principal": "carol", "valid": True},
                    {"role": "sre", "principal": "dave", "valid": True},
                    {"role": "sre", "principal": "mallory", "valid": False},
                ],
            },
        ),
        _record(
            tmp_path,
            "20261128T100000Z-00000003",
            {
                "status": "succeeded",
                "operator": "bob",
                "started_at": start,
                "finished_at": "2026-11-28T10:00:01.000Z",
                "dry_run": True,
                "kind": "plan",
            },
        ),
    ]


def test_table_columns_name_what_they_show(tmp_path):
    lines = list_table(list_rows(tmp_path, _rows(tmp_path))).splitlines()
    head = lines[0]
    for column in ("STATUS", "STOPPED AT", "ROLLBACK", "OPERATOR", "DURATION", "APPROVERS"):
        assert column in head, head
    assert "FAILED" not in head
    blocked, failed, plan = lines[1:]
    assert blocked.split()[2:5] == ["blocked", "1-2", "-"], blocked
    assert blocked.split()[5] == "alice" and "2.5s" in blocked
    assert failed.split()[2:6] == ["failed", "2-1", "succeeded", "bob"], failed
    assert "1m05s" in failed and failed.endswith("carol (dba), dave (sre)")
    assert plan.split()[2:4] == ["dry", "run"], plan
    assert "- " in plan and plan.rstrip().endswith("-")


def test_approvers_column_only_when_someone_approved(tmp_path):
    rows = list_rows(tmp_path, _rows(tmp_path))
    assert "APPROVERS" not in list_table([rows[0], rows[2]]).splitlines()[0]


def test_json_rows_carry_the_same_fields(tmp_path):
    rows = {r["run_id"][-1]: r for r in list_rows(tmp_path, _rows(tmp_path))}
    assert rows["1"]["stopped_at"] == "1-2" and rows["1"]["rollback"] is None
    assert rows["1"]["duration_s"] == 2.5 and rows["1"]["kind"] == "run"
    assert rows["2"]["rollback"] == "succeeded"
    assert rows["2"]["approvers"] == [
        {"principal": "carol", "role": "dba"},
        {"principal": "dave", "role": "sre"},
    ]
    assert rows["3"]["kind"] == "plan" and rows["3"]["stopped_at"] is None
    json.dumps(list(rows.values()))  # what --json prints


def test_the_index_carries_rollback_and_approvers_for_every_run(tmp_path):
    """``records list`` reads no manifest: the columns are in the index (any status)."""
    _rows(tmp_path)
    runs = list_runs(tmp_path, RunFilter())
    by_id = {r["run_id"][-1]: r for r in list_rows(tmp_path, runs)}
    assert by_id["2"]["rollback"] == "succeeded"
    assert [a["principal"] for a in by_id["2"]["approvers"]] == ["carol", "dave"]
    for run_dir in (tmp_path / "demo").iterdir():  # the manifests are not read again
        (run_dir / "manifest.json").unlink()
    again = {r["run_id"][-1]: r for r in list_rows(tmp_path, list_runs(tmp_path, RunFilter()))}
    assert again["2"]["approvers"] == by_id["2"]["approvers"]


def test_an_index_of_the_old_schema_is_rebuilt_with_the_new_columns(tmp_path):
    _rows(tmp_path)
    db = sqlite3.connect(tmp_path / "index.sqlite")
    db.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, status TEXT)")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    rows = {r["run_id"][-1]: r for r in list_rows(tmp_path, list_runs(tmp_path, RunFilter()))}
    assert rows["2"]["approvers"][0] == {"principal": "carol", "role": "dba"}
    db = sqlite3.connect(tmp_path / "index.sqlite")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == indexdb.SCHEMA_VERSION
        columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    finally:
        db.close()
    assert {"approvers", "rollback"} <= columns


def test_index_rows_list_what_their_manifests_say(tmp_path):
    """The index carries kind, rollback, approvers and duration: the same as the manifests."""
    from converter.records.index import index_row

    from_manifests = list_rows(tmp_path, _rows(tmp_path))
    indexed = []
    for row in _rows(tmp_path / "again"):
        run_dir = tmp_path / "again" / row["path"]
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        full = index_row(tmp_path / "again", run_dir, manifest, manifest_sha256="0" * 64)
        full["dry_run"] = bool(full["dry_run"])
        full.pop("previous")
        indexed.append({**row, **{k: full[k] for k in full if k not in row}})
        (run_dir / "manifest.json").unlink()  # listing must not need it
    assert list_rows(tmp_path / "again", indexed) == [
        {**r, "resumes": None} for r in from_manifests
    ]

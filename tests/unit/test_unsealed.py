"""Open runs are tracked by marker files, so finding them needs no walk of the archive."""

from __future__ import annotations

import shutil
from pathlib import Path

from converter.records.chain import finalize_record
from converter.records.layout import JOURNAL
from converter.records.manifest import create_record_dir
from converter.records.unsealed import MARKERS, SCANNED, unsealed_records


def _manifest(run_id: str) -> dict:
    return {
        "run_id": run_id,
        "runbook": {"id": "db", "title": "DB", "source_sha256": "0" * 64},
        "status": "succeeded",
        "dry_run": False,
        "operator": "alice",
        "mode": "headless",
        "started_at": "2024-05-01T10:00:00Z",
        "finished_at": "2024-05-01T10:01:00Z",
        "parameters": {},
        "steps": [],
    }


def test_a_run_is_marked_until_sealed(tmp_path: Path) -> None:
    run_dir, run_id = create_record_dir(tmp_path, "db")
    (run_dir / JOURNAL).write_text("{}\n", encoding="utf-8")
    assert (tmp_path / MARKERS / "db" / run_dir.name).exists()
    assert unsealed_records(tmp_path) == [run_dir]  # the runbook directory changed: listed
    assert (tmp_path / MARKERS / "db" / SCANNED).exists()
    assert unsealed_records(tmp_path) == [run_dir]  # now from the markers
    finalize_record(run_dir, manifest=_manifest(run_id))
    assert not (tmp_path / MARKERS / "db" / run_dir.name).exists()
    assert unsealed_records(tmp_path) == []


def test_an_archive_without_markers_is_scanned_once(tmp_path: Path) -> None:
    run_dir, _ = create_record_dir(tmp_path, "db")
    (run_dir / JOURNAL).write_text("{}\n", encoding="utf-8")
    shutil.rmtree(tmp_path / MARKERS)  # as written before markers existed
    assert unsealed_records(tmp_path) == [run_dir]
    assert (tmp_path / MARKERS / "db" / run_dir.name).exists()
    shutil.rmtree(run_dir)  # a stale marker is dropped when seen
    assert unsealed_records(tmp_path) == []
    assert not (tmp_path / MARKERS / "db" / run_dir.name).exists()


def test_a_run_copied_in_without_a_marker_is_found(tmp_path: Path) -> None:
    run_dir, _ = create_record_dir(tmp_path, "db")
    (run_dir / JOURNAL).write_text("{}\n", encoding="utf-8")
    assert unsealed_records(tmp_path) == [run_dir]
    twin = run_dir.with_name(run_dir.name[:-8] + "0badf00d")
    shutil.copytree(run_dir, twin)  # no marker: the directory's mtime says so
    assert unsealed_records(tmp_path) == sorted([run_dir, twin])

"""Which runs are not sealed yet, without walking the archive: one marker file per open run.

``records/.unsealed/<runbook>/<run>`` is made with the record directory and removed
when its manifest is committed, so ``runbook records list`` and every ``runbook run``
look at the few open runs instead of every record directory (10,000 of them took a
full scan each time). ``.unsealed/<runbook>/.scanned`` holds the runbook directory's
mtime when it was last listed: while it matches, the markers are trusted; when a run
directory was added or removed since (by us, or copied in, restored, made by an older
version), that runbook's directory is listed once more. An archive this process
cannot write is listed every time. A stale marker (its run sealed, or gone) is
dropped when seen.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

from . import layout

MARKERS = ".unsealed"
SCANNED = ".scanned"


def mark(run_dir: Path) -> None:
    """Note a new run as unsealed (raises OSError: no marker, no run)."""
    run_dir = Path(run_dir)
    folder = run_dir.parent.parent / MARKERS / run_dir.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / run_dir.name).touch()


def unmark(run_dir: Path) -> None:
    """The run is sealed: drop its marker (best effort; a stale marker is dropped later)."""
    run_dir = Path(run_dir)
    with suppress(OSError):
        os.unlink(run_dir.parent.parent / MARKERS / run_dir.parent.name / run_dir.name)


def unsealed_records(records: Path) -> list[Path]:
    """Record directories with a journal but no manifest, sorted.

    One ``scandir`` of the archive's top level (one entry per runbook): a runbook
    directory unchanged since its last scan (same mtime) is answered from its markers;
    a changed one (a run added by any means: ours, a copy, a restore) is scanned once.
    """
    records = Path(records)
    try:
        runbooks = [
            e
            for e in os.scandir(records)
            if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
        ]
    except FileNotFoundError:
        return []
    writable = os.access(records, os.W_OK)
    found: list[Path] = []
    for runbook in runbooks:
        try:
            stamp = str(runbook.stat(follow_symlinks=False).st_mtime_ns)
        except OSError:
            continue
        folder = records / MARKERS / runbook.name
        if writable and _read(folder / SCANNED) == stamp:
            found.extend(_from_markers(records, runbook.name, folder))
        else:
            found.extend(_scan(Path(runbook.path), folder if writable else None, stamp))
    return sorted(found)


def anything_to_settle(records: Path) -> bool:
    """Whether :func:`.recover.settle` has work here: an unsealed run (abandoned, or still
    going) or a seal a crash interrupted (``.chain-pending``)."""
    return os.path.exists(Path(records) / layout.CHAIN_PENDING) or bool(unsealed_records(records))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None


def _from_markers(records: Path, runbook: str, folder: Path) -> list[Path]:
    found = []
    for name in os.listdir(folder):
        if name == SCANNED:
            continue
        run_dir = records / runbook / name
        if os.path.exists(os.path.join(run_dir, layout.MANIFEST)) or not run_dir.is_dir():
            unmark(run_dir)  # sealed, or gone
        elif os.path.exists(os.path.join(run_dir, layout.JOURNAL)):
            found.append(run_dir)
    return found


def _scan(runbook: Path, folder: Path | None, stamp: str) -> list[Path]:
    """The runbook's unsealed runs, by listing it; then its markers and stamp, if writable."""
    found: list[Path] = []
    try:
        names = os.listdir(runbook)
    except OSError:
        return found
    for name in names:
        run_dir = runbook / name
        if not os.path.exists(run_dir / layout.MANIFEST) and os.path.exists(
            run_dir / layout.JOURNAL
        ):
            found.append(run_dir)
    if folder is not None:
        with suppress(OSError):
            for unsealed in found:
                mark(unsealed)
            for stale in set(os.listdir(folder)) - {r.name for r in found} - {SCANNED}:
                os.unlink(folder / stale)
            (folder / SCANNED).write_text(stamp, encoding="ascii")  # the mtime seen before
    return found

"""The file names of a record and of a records root, spelled once.

::

    <records>/
        index.sqlite  .chain-head  .chain.lock  .recover.lock  .resume.lock
        <runbook-id>/<yyyymmddThhmmssZ>-<8 hex>/
            record.ipynb  [rollback.ipynb]  record.html (both passes)
            journal.jsonl  logs/<step>.log  manifest.json
"""

from __future__ import annotations

RECORD_NOTEBOOK = "record.ipynb"
"""The executed notebook of the procedure pass."""
ROLLBACK_NOTEBOOK = "rollback.ipynb"
"""The executed notebook of the rollback pass (``--rollback-on-failure``)."""
PARTIAL_NOTEBOOK = "record.partial.ipynb"
"""A torn ``record.ipynb`` kept aside when the record is rebuilt from the journal."""
RECORD_HTML = "record.html"
JOURNAL = "journal.jsonl"
MANIFEST = "manifest.json"
LOGS = "logs"
STOP_FILE = "STOP"
"""Touched by the runner on a signal: ``%%step`` starts no further step (never part of a record)."""

INDEX = "index.sqlite"
CHAIN_HEAD = ".chain-head"
CHAIN_LOCK = ".chain.lock"
RECOVER_LOCK = ".recover.lock"
RESUME_LOCK = ".resume.lock"
"""Held while a resumed run checks that nobody resumed its run yet and claims it."""


def log_name(step_id: str) -> str:
    """The record-relative path of a step's full output log."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in step_id)
    return f"{LOGS}/{safe}.log"

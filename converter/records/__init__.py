"""The evidence: what a run leaves behind, how it is sealed, found and verified.

Bottom up: ``layout`` (file names), ``mask`` (secrets out of every file),
``journal`` (the fsynced event log) and ``events`` (its vocabulary and
readers), ``outputs`` (status and checklist views shared with the kernel),
``verdict`` (journal → status), ``manifest`` and ``chain`` (hashes and the hash
chain), ``rebuild`` (a record notebook from the journal), ``html`` and
``nbpage`` (offline rendering), ``indexdb`` and ``index`` (the SQLite cache), ``protect``
(read-only files, inert notebooks), ``seal`` (the one path that seals and
indexes), ``recover`` (abandoned runs), ``damage``, ``verify`` and ``report``.
Nothing here imports the kernel, the runner or the converter stages.
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use (PEP 562), so `runbook records list` imports only what it needs.
_PUBLIC = {
    "RunFilter": "index",
    "find_run": "index",
    "list_runs": "index",
    "reindex": "index",
    "Journal": "journal",
    "read_journal": "journal",
    "SecretMasker": "mask",
    "finalize_abandoned": "recover",
    "settle": "recover",
    "RecordView": "report",
    "export_html": "report",
    "export_markdown": "report",
    "load_view": "report",
    "show_text": "report",
    "Seal": "seal",
    "seal_run": "seal",
    "Verdict": "verdict",
    "judge": "verdict",
    "Problem": "verify",
    "verify_all": "verify",
    "verify_chain": "verify",
    "verify_record": "verify",
    "verify_run": "verify",
}

__all__ = [
    "Journal",
    "Problem",
    "RecordView",
    "RunFilter",
    "Seal",
    "SecretMasker",
    "Verdict",
    "export_html",
    "export_markdown",
    "finalize_abandoned",
    "find_run",
    "judge",
    "list_runs",
    "load_view",
    "read_journal",
    "reindex",
    "seal_run",
    "settle",
    "show_text",
    "verify_all",
    "verify_chain",
    "verify_record",
    "verify_run",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

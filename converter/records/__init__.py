"""The evidence: what a run leaves behind, how it is sealed, found and verified.

Bottom up: ``layout`` (file names), ``mask`` (secrets out of every file),
``journal`` (the fsynced event log) and ``events`` (its vocabulary and
readers), ``outputs`` (status and checklist views shared with the kernel),
``verdict`` (journal → status), ``manifest`` and ``chain`` (hashes and the hash
chain), ``rebuild`` (a record notebook from the journal), ``html``
(offline rendering), ``index`` (the SQLite cache), ``seal`` (the one path that
seals and indexes), ``recover`` (abandoned runs), ``verify`` and ``report``.
Nothing here imports the kernel, the runner or the converter stages.
"""

from .index import RunFilter, find_run, list_runs, reindex
from .journal import Journal, read_journal
from .mask import SecretMasker
from .recover import finalize_abandoned, settle
from .report import RecordView, export_html, export_markdown, load_view, show_text
from .seal import Seal, seal_run
from .verdict import Verdict, judge
from .verify import Problem, verify_all, verify_chain, verify_record

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
]

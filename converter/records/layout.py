"""The file names of a record and of a records root, spelled once.

::

    <records>/
        index.sqlite  .index.lock  .chain-head  .chain.lock  .recover.lock  .resume.lock
        [.chain-pending]
        <runbook-id>/<yyyymmddThhmmssZ>-<8 hex>/
            record.ipynb  [rollback.ipynb]  record.html (both passes)
            journal.jsonl  logs/<step>.log  manifest.json  [manifest.json.sig]
        chain-repair/<yyyymmddThhmmssZ>-<8 hex>/
            manifest.json  [manifest.json.sig]      (a gap recorded by ``records repair``)

    s3://bucket/prefix/     (a shared archive; mirrored locally with .remote and .sync.lock)
        .chain/0000000001 …  <runbook-id>/<run id>/…  (the same record files)
"""

from __future__ import annotations

RECORD_NOTEBOOK = "record.ipynb"
"""The executed notebook of the procedure pass."""
ROLLBACK_NOTEBOOK = "rollback.ipynb"
"""The executed notebook of the rollback pass (``--rollback-on-failure``)."""
PARTIAL_NOTEBOOK = "record.partial.ipynb"
"""A torn ``record.ipynb`` kept aside when the record is rebuilt from the journal."""
PARTIAL_ROLLBACK_NOTEBOOK = "rollback.partial.ipynb"
"""The same for a torn ``rollback.ipynb``."""
RECORD_HTML = "record.html"
JOURNAL = "journal.jsonl"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
"""``ssh-keygen -Y sign`` of manifest.json (namespace ``runbook-record``); not listed in it."""
LOGS = "logs"
STOP_FILE = "STOP"
"""Touched by the runner on a signal: ``%%step`` starts no further step (never part of a record)."""
TARGET_CLAIMS = ".started"
"""``<fleet record>/.started/<target>``: created (``O_EXCL``) just before a target's run is
started; a task Dask runs again after losing its worker finds it and starts nothing (the
run may outlive its worker). Removed when the record is sealed (never part of a record)."""

INDEX = "index.sqlite"
INDEX_LOCK = ".index.lock"
"""Taken while the index file is replaced (old schema, corrupt): one process does it."""
CORRUPT_INDEX = "index.sqlite.corrupt-{stamp}"
"""Where a corrupt index is moved aside (kept for a post-mortem, never read again)."""
CHECKPOINTS = ".ipynb_checkpoints"
"""JupyterLab's copies of an opened notebook: a note in a record, never part of it."""
CHAIN_HEAD = ".chain-head"
CHAIN_LOCK = ".chain.lock"
RECOVER_LOCK = ".recover.lock"
CHAIN_PENDING = ".chain-pending"
"""A seal in flight: the manifest, signature and witness line the next head update commits."""
REPAIRS = "chain-repair"
"""The directory (in place of a runbook id) holding the records of ``runbook records repair``."""
RESUME_LOCK = ".resume.lock"
"""Held while a resumed run checks that nobody resumed its run yet and claims it."""

# A shared archive (``--records s3://bucket/prefix``, :mod:`.store`): in the store, and in
# its local mirror ``<cache>/archives/<slug>-<hash>/``.
CHAIN_OBJECTS = ".chain"
"""``<archive>/.chain/<sequence, 10 digits>``: one object per sealed record, created with
``If-None-Match: *`` so exactly one writer wins each place in the chain (:mod:`.remote`)."""
PROBE_OBJECT = ".probe"
"""Written and deleted before a run on a shared archive starts ("no evidence, no execution")."""
REMOTE_MARKER = ".remote"
"""In a mirror: the URL of the archive it mirrors (seals go there)."""
SYNC_LOCK = ".sync.lock"
"""In a mirror: held while it is brought up to date from the store."""
ARCHIVE_CACHES = "archives"
"""``$RUNBOOK_CACHE/archives/``: the mirrors of shared archives."""


def log_name(step_id: str) -> str:
    """The record-relative path of a step's full output log: one file per step id."""
    return f"{LOGS}/{_file_name(step_id)}.log"


def target_claim(target: str) -> str:
    """The record-relative path of a fleet target's claim (:data:`TARGET_CLAIMS`)."""
    return f"{TARGET_CLAIMS}/{_file_name(target)}"


def _file_name(name: str) -> str:
    """``name`` as one file name, one per name: other characters are percent-encoded
    (``x/y`` and ``x_y`` were both ``x_y``)."""
    return "".join(
        c if c.isalnum() or c in "-_." else "".join(f"%{b:02X}" for b in c.encode("utf-8"))
        for c in name
    )


PLANS = ".plans"
"""``<records>/.plans/<plan-id>/``: plans and their approvals (``runbook plan``, ``approve``)."""
PLAN = "plan.json"
PLAN_HTML = "plan.html"
APPROVALS = "approvals"
"""``<plan-dir>/approvals/<n>.json``: one signed approval each (namespace ``runbook-approval``)."""
RECORD_PLAN = "plan.json"
"""The plan a run was approved by, copied into its record (with ``approvals.json``)."""
RECORD_APPROVALS = "approvals.json"

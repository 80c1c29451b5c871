"""The kernel's approval gate: no procedure step runs before the plan is approved.

The runner checks a plan before a kernel starts (``runbook run --plan``); in
JupyterLab (or plain papermill) the kernel checks it at the first procedure step,
from the ``plan`` run setting, and keeps the plan and approvals in the record.
Approving is never done here: the block names the ``runbook approve`` command.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import RecordError
from ..records import events as ev
from ..records.journal import read_journal
from ..records.layout import JOURNAL
from ..records.plans import check_plan, find_plan, record_approvals
from .errors import StepBlocked
from .state import RunState, StepInfo, StepResult
from .text import message
from .views import StepStatus


def check_approvals(session: RunState, info: StepInfo, status: StepStatus) -> None:
    """Block ``info`` (a procedure step) until the plan is complete; once per run."""
    if info.kind != "procedure" or session.approved:
        return
    spec = session.runbook.get("approvals") or {}
    roles = spec.get("roles") or []
    needed = [r["role"] for r in roles if not r.get("operator")]
    plan = session.settings.plan
    if not needed:
        session.approved = True
        return
    if not plan:
        _block(
            session,
            info,
            status,
            [message(session.lang, "approvals_missing", roles=", ".join(needed))],
        )
    events = read_journal(session.run_dir / JOURNAL)
    if any(e.get("event") == ev.APPROVALS for e in events):  # the runner checked and kept them
        session.approved = True
        return
    try:
        directory = find_plan(Path(session.settings.records_dir), plan)
        review = check_plan(
            directory,
            source_sha256=str(session.runbook.get("source_sha256")),
            parameters=session.parameters.shown(),
            operator=session.settings.operator,
            allowed_signers=os.environ.get("RUNBOOK_ALLOWED_SIGNERS") or None,
        )
    except RecordError as exc:
        _block(session, info, status, [str(exc)])
    if review.problems:
        _block(session, info, status, review.problems)
    items = [
        (item["id"], item["text"], _role(item["text"]), _is_operator(item["text"]))
        for c in session.runbook.get("checklists", [])
        if c.get("role") == "approval"
        for item in c["items"]
    ]
    record_approvals(
        review, directory, session.run_dir, _writer(session), items, session.settings.operator
    )
    session.approved = True


def _role(text: str) -> str:
    from ..markdown.approvals import role_of

    return str(role_of(text)["role"])


def _is_operator(text: str) -> bool:
    from ..markdown.approvals import role_of

    return bool(role_of(text)["operator"])


def _writer(session: RunState):  # type: ignore[no-untyped-def]
    def write(event: str, **fields: object) -> None:
        session.journal.write(event, **fields)

    return write


def _block(session: RunState, info: StepInfo, status: StepStatus, missing: list[str]) -> None:
    step = StepResult("blocked", reason="; ".join(missing))
    session.results[info.id] = step
    session.journal.write(ev.BLOCKED, step=info.id, unchecked=missing, gate=["approval"])
    status.done(step)
    listing = "\n".join(f"  - {m}" for m in missing)
    print(
        f"{message(session.lang, 'approvals_blocked', step=info.id)}\n{listing}\n"
        f"{message(session.lang, 'approvals_how')}",
        file=sys.stderr,
    )
    raise StepBlocked(f"{info.id}: approvals: " + "; ".join(missing))

"""The kernel's approval gate: no procedure step runs before the plan is approved.

The runner checks a plan before a kernel starts (``runbook run --plan``); in
JupyterLab (or plain papermill) the kernel checks it at the first procedure step,
from the ``plan`` run setting, and keeps the plan and approvals in the record.
Approving is never done here: the approvals view (in the blocked step's output
and in the approval list's cell) names the roles, who approved, what is missing
and the ``runbook approve`` command for each approver to run.
"""

from __future__ import annotations

import html
import os
import sys
from pathlib import Path

from ..errors import RecordError
from ..records import events as ev
from ..records.journal import read_journal
from ..records.layout import JOURNAL
from ..records.plans import Review, check_plan, find_plan, record_approvals
from .errors import StepBlocked
from .state import RunState, StepInfo, StepResult
from .text import message
from .views import StepStatus, display_bundle


def check_approvals(
    session: RunState, info: StepInfo, status: StepStatus, line: str, code: str
) -> None:
    """Block ``info`` (a procedure or rollback step: both change systems) until the plan
    is complete (checked once per run); from then on, block every step whose commands are
    not the ones the plan approved (a cell edited in JupyterLab after approval)."""
    if info.kind in ("procedure", "rollback") and not session.approved:
        _approve(session, info, status)
    planned = session.planned_steps
    if planned is not None and planned.get(info.id) != (line.split(), code.rstrip("\n")):
        problem = message(session.lang, "not_planned", step=info.id, plan=session.settings.plan)
        _block(session, info, status, [problem])


def _approve(session: RunState, info: StepInfo, status: StepStatus) -> None:
    needed = _needed(session)
    if not needed:
        session.approved = True
        return
    plan = session.settings.plan
    if plan and any(
        e.get("event") == ev.APPROVALS for e in read_journal(session.run_dir / JOURNAL)
    ):  # the runner checked and kept them
        session.approved = True
        return
    review, problems = _review(session)
    if not plan:
        problems = [message(session.lang, "approvals_missing", roles=", ".join(needed))]
    if review is None or problems:
        _block(session, info, status, problems, approvals_bundle(session, review, problems))
    assert review is not None
    items = [
        (item["id"], item["text"], _role(item["text"]), _is_operator(item["text"]))
        for c in session.runbook.get("checklists", [])
        if c.get("role") == "approval"
        for item in c["items"]
    ]
    directory = find_plan(Path(session.settings.records_dir), plan)
    record_approvals(
        review, directory, session.run_dir, _writer(session), items, session.settings.operator
    )
    _take_ticks(session)
    session.planned_steps = {
        str(s["step"]): _as_run(str(s["code"])) for s in review.plan.get("steps") or []
    }
    session.approved = True


def _as_run(source: str) -> tuple[list[str], str]:
    """A planned step cell as ``%%step`` receives it: its line's words and its commands."""
    head, _, body = source.partition("\n")
    return head.split()[1:], body.rstrip("\n")


def _take_ticks(session: RunState) -> None:
    """The approval list shows the ticks just journaled (by each approver, via signature)."""
    ticks = ev.check_states(read_journal(session.run_dir / JOURNAL))
    session.prior_checks.update(ticks)
    for states in session.checks.values():
        for item_id, state in states.items():
            tick = ticks.get(item_id)
            if tick is not None and tick.get("via") in ("signature", "operator"):
                state.checked, state.by = bool(tick.get("checked")), tick.get("by")
                state.at, state.via = tick.get("at"), tick.get("via")


def show_approvals(session: RunState) -> None:
    """The approval list's cell in JupyterLab: roles, approvers, what is missing, commands."""
    if session.settings.mode == "headless" or not _needed(session):
        return
    review, problems = _review(session)
    display_bundle(approvals_bundle(session, review, problems))


def approvals_bundle(
    session: RunState, review: Review | None, problems: list[str]
) -> dict[str, str]:
    """Each role with its approver (and time) or "missing"; problems; the commands to run."""
    lang, plan = session.lang, session.settings.plan
    approved = {a["role"]: a for a in (review.approvals if review else []) if a.get("valid")}
    roles = review.plan["roles_required"] if review else _needed(session)
    missing = [r for r in roles if r not in approved]
    rows, lines = [], [message(lang, "approvals_title")]
    for role in roles:
        a = approved.get(role)
        who = (
            message(lang, "approved_by", by=a["principal"], at=a["signed_at"])
            if a
            else message(lang, "approval_needed")
        )
        rows.append(
            f'<tr data-role="{html.escape(role)}" data-approved="{str(bool(a)).lower()}">'
            f"<td>{'☑' if a else '☐'} {html.escape(role)}</td><td>{html.escape(who)}</td></tr>"
        )
        lines.append(f"{'☑' if a else '☐'} {role}: {who}")
    if not plan:
        commands = [f"runbook plan {_source(session)}"]
        hint = message(lang, "approvals_no_plan")
    else:
        commands = [f"runbook approve {plan} --role '{r}' --key KEY" for r in missing]
        hint = message(lang, "approvals_run_these") if commands else ""
    complete = review is not None and not problems
    notes = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    code = "".join(f"<pre>{html.escape(c)}</pre>" for c in commands)
    markup = (
        f'<div class="runbook-approvals" data-complete="{str(complete).lower()}">'
        f"<b>{html.escape(lines[0])}</b>"
        + (f" <code>{html.escape(plan)}</code>" if plan else "")
        + f"<table>{''.join(rows)}</table>"
        + (f'<ul class="runbook-approval-problems">{notes}</ul>' if notes else "")
        + (f"<p>{html.escape(hint)}</p>{code}" if hint else "")
        + "</div>"
    )
    lines += [f"  - {p}" for p in problems] + ([hint, *commands] if hint else [])
    return {"text/html": markup, "text/plain": "\n".join(lines)}


def _source(session: RunState) -> str:
    """What ``runbook plan`` reads: this notebook (same sha256 and roles as its Markdown)."""
    path = session.notebook_path
    if not path:
        return "SOURCE"
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else path


def _needed(session: RunState) -> list[str]:
    spec = session.runbook.get("approvals") or {}
    return [r["role"] for r in spec.get("roles") or [] if not r.get("operator")]


def _review(session: RunState) -> tuple[Review | None, list[str]]:
    """The plan named by the ``plan`` setting, checked; (None, why) when it cannot be read."""
    plan = session.settings.plan
    if not plan:
        return None, []
    try:
        review = check_plan(
            find_plan(Path(session.settings.records_dir), plan),
            source_sha256=str(session.runbook.get("source_sha256")),
            parameters=session.parameters.shown(),
            operator=session.settings.operator,
            allowed_signers=os.environ.get("RUNBOOK_ALLOWED_SIGNERS") or None,
        )
    except RecordError as exc:
        return None, [str(exc)]
    return review, list(review.problems)


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


def _block(
    session: RunState,
    info: StepInfo,
    status: StepStatus,
    missing: list[str],
    view: dict[str, str] | None = None,
) -> None:
    step = StepResult("blocked", reason="; ".join(missing))
    session.results[info.id] = step
    session.journal.write(ev.BLOCKED, step=info.id, unchecked=missing, gate=["approval"])
    status.done(step)
    if view is not None and session.settings.mode != "headless":
        display_bundle(view)
    listing = "\n".join(f"  - {m}" for m in missing)
    print(
        f"{message(session.lang, 'approvals_blocked', step=info.id)}\n{listing}\n"
        f"{message(session.lang, 'approvals_how')}",
        file=sys.stderr,
    )
    raise StepBlocked(f"{info.id}: approvals: " + "; ".join(missing))

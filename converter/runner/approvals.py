"""Four eyes for ``runbook run``: make a plan, and check one before any kernel starts.

The roles come from the runbook (:mod:`converter.markdown.approvals`); plans,
signatures and their verification from :mod:`converter.records.plans`. A
runbook that needs approvals runs only with a complete, valid, unexpired plan
for exactly this source and these parameters; ``--confirm`` never stands in.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import nbformat

from ..errors import RunbookError
from ..markdown.approvals import required_roles, role_of
from ..parameters import check_text, from_declaration, resolve
from ..records import events as ev
from ..records import layout
from ..records.carry import journal_carried, resume_point
from ..records.journal import Journal, read_journal
from ..records.plans import (
    DEFAULT_MAX_AGE,
    PlanError,
    Review,
    check_plan,
    find_plan,
    record_approvals,
    render_html,
    write_plan,
)
from ..records.rebuild import record_notebook
from ..records.verdict import Verdict, judge


class Blocked(RunbookError):
    """The run may not start: approvals missing or wrong (exit 3, before any step)."""

    exit_code = 3


def spec_of(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The approval roles of a runbook, as its converter wrote them into the notebook.

    A notebook converted before roles were kept there: from its approval checklists.
    """
    if "approvals" in nb.metadata["runbook"]:
        return dict(nb.metadata["runbook"]["approvals"])
    roles: list[dict[str, Any]] = []
    for checklist in nb.metadata["runbook"].get("checklists", []):
        if checklist.get("role") == "approval":
            roles.extend(role_of(item["text"]) for item in checklist["items"])
    return {"roles": roles, "distinct": True}


def make_plan(
    source: Path,
    nb: nbformat.NotebookNode,
    parameters: dict[str, Any],
    from_text: frozenset[str],
    records: Path,
    not_applicable: tuple[str, ...] = (),
    targets: dict[str, dict[str, Any]] | None = None,
) -> tuple[str, Path, dict[str, Any]]:
    """Resolve the parameters as ``run`` would and write the plan; (id, directory, plan).

    A fleet's plan (``targets``: each target's values as ``run --targets`` shows them,
    already validated) holds them all under ``targets``: one digest, signed once, covers
    every target; ``parameters`` then holds the values common to all of them.
    """
    check_text("the records directory", str(records))
    meta = nb.metadata["runbook"]
    declared = tuple(from_declaration(d) for d in meta.get("parameters", []))
    if targets is None:
        shown = resolve(declared, parameters, from_text=from_text, strict=True).shown()
    else:
        rows = list(targets.values())
        shown = {k: v for k, v in rows[0].items() if all(r.get(k) == v for r in rows)}
    spec = spec_of(nb)
    conditional = {r["role"] for r in spec["roles"] if r["condition"]}
    for role in not_applicable:
        if role not in conditional:
            raise RunbookError(
                f"--role-not-applicable {role!r}: only a conditional role can be ruled out; "
                f"conditional roles: {', '.join(sorted(conditional)) or '(none)'}",
                path=str(source),
            )
    steps = plan_steps(nb)
    body = {
        "runbook": {"id": meta["id"], "title": meta.get("title", ""), "lang": meta.get("lang")},
        "source": str(source),
        "source_sha256": meta.get("source_sha256"),
        "parameters": shown,
        **({"targets": targets} if targets is not None else {}),
        "steps": steps,
        "roles": spec["roles"],
        "roles_not_applicable": sorted(not_applicable),
        "roles_required": required_roles(spec, not_applicable),
        "distinct": spec["distinct"],
    }
    plan_id, directory = write_plan(records, body, render_html({**body}))
    return plan_id, directory, json.loads((directory / layout.PLAN).read_text("utf-8"))


def plan_steps(nb: nbformat.NotebookNode) -> list[dict[str, str]]:
    """Every step cell as a plan lists it, and as a run compares it: a notebook edited
    after approval (its metadata's ``source_sha256`` unchanged) must not run under it."""
    return [
        {
            "step": cell.metadata["runbook"].get("step_id", cell.id),
            "kind": str(cell.metadata["runbook"].get("kind", "")),
            "code": cell.source,
        }
        for cell in nb.cells
        if cell.cell_type == "code" and cell.metadata.get("runbook", {}).get("role") == "step"
    ]


def gate(
    source: Path,
    nb: nbformat.NotebookNode,
    plan: str | None,
    *,
    records: Path,
    parameters_shown: dict[str, Any],
    operator: str,
    allowed_signers: str | None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    target: str | None = None,
) -> tuple[Review | None, list[str]]:
    """The complete review (or None: no plan given) and every reason to refuse the run.

    Without a plan the run starts and its kernel blocks at the first procedure step
    (prerequisites may run); with a plan that is wrong, the run is refused before any
    step, in a sealed ``blocked`` record (:func:`refuse`). A plan id that names no plan
    is bad input (exit 2). ``target`` names a fleet's target: its parameters are checked
    against its row of the plan.
    """
    if not plan:
        needed = required_roles(spec_of(nb))
        if needed and "approvals" not in nb.metadata["runbook"]:
            # a notebook converted before approvals existed: its kernel cannot check them
            raise Blocked(
                f"blocked: this runbook needs approvals ({', '.join(needed)}); "
                f"convert it again (runbook convert {source})"
            )
        return None, []
    directory = find_plan(records, plan)
    try:
        review = check_plan(
            directory,
            source_sha256=str(nb.metadata["runbook"].get("source_sha256")),
            steps=plan_steps(nb),
            parameters=parameters_shown,
            operator=operator,
            allowed_signers=allowed_signers,
            max_age=max_age,
            target=target,
        )
    except PlanError as exc:  # plan.json changed after it was made: its digest is wrong
        return None, [str(exc)]
    return review, list(review.problems)


def refuse(
    nb: nbformat.NotebookNode,
    run_dir: Path,
    journal: Journal,
    plan: str,
    problems: list[str],
    resumes: Path | None = None,
) -> Verdict:
    """Block the run before any step: journal why, write record.ipynb; the verdict.

    A refused resume still takes over what the run it resumes had done (as its kernel
    would have): the next resume continues from this record without running them again.
    """
    if resumes is not None:
        declared = {str(s.get("id")) for s in nb.metadata["runbook"].get("steps", [])}
        journal_carried(journal, resume_point(resumes), declared)
    steps = nb.metadata["runbook"].get("steps") or [{"id": "approval"}]
    journal.write(
        ev.BLOCKED,
        source="runner",
        step=str(steps[0]["id"]),
        unchecked=problems,
        gate=["approval"],
        plan=plan,
    )
    events = read_journal(journal.path)
    nbformat.write(record_notebook(run_dir, events, nb), run_dir / layout.RECORD_NOTEBOOK)
    return judge(events)


def approval_items(meta: dict) -> list[tuple[str, str, str, bool]]:
    """(item id, text, role, names the operator) of every approval list item."""
    found = []
    for checklist in meta.get("checklists", []):
        if checklist.get("role") == "approval":
            for item in checklist["items"]:
                role = role_of(item["text"])
                found.append((item["id"], item["text"], role["role"], role["operator"]))
    return found


def keep(
    review: Review, directory: Path, run_dir: Path, journal: Journal, meta: dict, operator: str
) -> None:
    """Copy the plan and the verified approvals into the record; tick the approval list."""

    def write(event: str, **fields: object) -> None:
        journal.write(event, source="runner", **fields)

    record_approvals(review, directory, run_dir, write, approval_items(meta), operator)

"""Plans and approvals: what reviewers sign before a run (four eyes).

``runbook plan`` writes ``<records>/.plans/<plan-id>/plan.json``: the runbook id,
its source sha256, the resolved parameters (secrets ``***``), every step's
commands, the required roles and the roles ruled out, and ``digest``, the
SHA-256 of the canonical JSON of everything else. ``runbook approve`` signs
``digest + role + comment`` with the approver's OpenSSH key in namespace
``runbook-approval`` and keeps the signature in ``approvals/<n>.json``.
:func:`check_plan` decides whether a run may start: same source, same
parameters, every required role signed by a distinct allowed signer who is not
the operator, not expired.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..errors import RecordError
from . import events as ev
from .journal import utc_now
from .layout import APPROVALS, PLAN, PLAN_HTML, PLANS, RECORD_APPROVALS, RECORD_PLAN
from .plantext import lang_of, say
from .signing import (
    APPROVAL_NAMESPACE,
    SigningError,
    check_signature,
    open_signer,
    require_allowed_signers,
)

DEFAULT_MAX_AGE = timedelta(days=7)


class PlanError(RecordError):
    """A plan or approval that cannot be made or read (exit 2)."""


def canonical(value: Any) -> bytes:
    """The canonical JSON of ``value``: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest_of(plan: dict[str, Any]) -> str:
    """SHA-256 of the plan without its ``digest`` and ``plan_id``."""
    body = {k: v for k, v in plan.items() if k not in ("digest", "plan_id")}
    return hashlib.sha256(canonical(body)).hexdigest()


def write_plan(records: Path, body: dict[str, Any], html_text: str) -> tuple[str, Path]:
    """Seal ``body`` with its digest, write plan.json and plan.html; (plan id, directory)."""
    plan = {**body, "created_at": utc_now()}
    digest = digest_of(plan)
    stamp = plan["created_at"][:19].replace("-", "").replace(":", "")
    plan_id = f"{stamp}Z-{digest[:8]}{secrets.token_hex(2)}"
    plan = {**plan, "digest": digest, "plan_id": plan_id}
    directory = records / PLANS / plan_id
    (directory / APPROVALS).mkdir(parents=True, exist_ok=False)
    (directory / PLAN).write_text(json.dumps(plan, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (directory / PLAN_HTML).write_text(html_text, encoding="utf-8")
    return plan_id, directory


def find_plan(records: Path, plan: str) -> Path:
    """The directory of a plan given by id or by path (its directory or its plan.json)."""
    candidates = [Path(plan), records / PLANS / plan]
    for candidate in candidates:
        if candidate.name == PLAN and candidate.is_file():
            return candidate.parent
        if (candidate / PLAN).is_file():
            return candidate
    raise PlanError(f"no plan {plan!r} (looked in {records / PLANS})", path=plan)


def read_plan(directory: Path) -> dict[str, Any]:
    """plan.json, checked against its own digest."""
    try:
        plan = json.loads((directory / PLAN).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read plan: {exc}", path=str(directory / PLAN)) from None
    if not isinstance(plan, dict) or plan.get("digest") != digest_of(plan):
        raise PlanError(say(lang_of(plan), "plan_changed"), path=str(directory / PLAN))
    return plan


def message(digest: str, role: str, comment: str) -> bytes:
    """The bytes an approver signs."""
    return canonical({"digest": digest, "role": role, "comment": comment})


def approve(
    directory: Path, role: str, key: str, allowed_signers: str | None, comment: str = ""
) -> dict[str, Any]:
    """Sign ``role`` of the plan in ``directory`` with ``key``; the approval written."""
    plan = read_plan(directory)
    if role not in plan["roles_required"]:
        lang = lang_of(plan)
        roles = ", ".join(plan["roles_required"]) or say(lang, "none")
        raise PlanError(
            say(lang, "unknown_role", role=role, roles=roles), path=str(directory / PLAN)
        )
    if not allowed_signers:
        raise SigningError("approving needs --allowed-signers (or RUNBOOK_ALLOWED_SIGNERS)")
    signer = open_signer(key, allowed_signers, APPROVAL_NAMESPACE)
    signature = signer.sign_as(message(plan["digest"], role, comment), APPROVAL_NAMESPACE)
    approval = {
        "role": role,
        "principal": signer.principal,
        "fingerprint": signer.fingerprint,
        "signed_at": utc_now(),
        "comment": comment,
        "signature": signature,
    }
    folder = directory / APPROVALS
    name = f"{approval['signed_at'].replace(':', '')}-{secrets.token_hex(4)}.json"
    (folder / name).write_text(json.dumps(approval, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return approval


def read_approvals(directory: Path) -> list[dict[str, Any]]:
    """Every approval file of a plan, oldest first (unreadable ones as ``{"error": …}``)."""
    found = []
    for path in sorted((directory / APPROVALS).glob("*.json")):
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            value = {"error": f"{path.name}: {exc}"}
        found.append(value if isinstance(value, dict) else {"error": f"{path.name}: not JSON"})
    return found


@dataclass
class Review:
    """What :func:`check_plan` found: valid approvals, and every reason to refuse."""

    plan: dict[str, Any]
    approvals: list[dict[str, Any]] = field(default_factory=list)
    """Each approval with ``valid`` and, when not, ``problem``."""
    problems: list[str] = field(default_factory=list)

    def missing(self) -> list[str]:
        """Required roles without a valid approval."""
        done = {a["role"] for a in self.approvals if a.get("valid")}
        return [r for r in self.plan["roles_required"] if r not in done]


def verify_approvals(
    plan: dict[str, Any], approvals: list[dict[str, Any]], allowed_signers: str | None
) -> list[dict[str, Any]]:
    """Each approval re-verified against the allowed signers (``valid``, ``problem``)."""
    checked = []
    for approval in approvals:
        entry = {k: v for k, v in approval.items() if k not in ("valid", "problem")}
        problem = entry.get("error") or ""
        if not problem and not allowed_signers:
            problem = "no allowed signers to verify it (--allowed-signers)"
        if not problem:  # a missing file makes the approval invalid (blocked), as before
            try:
                require_allowed_signers(str(allowed_signers))
            except SigningError as exc:
                problem = str(exc)
        if not problem:
            data = message(plan["digest"], str(entry.get("role")), str(entry.get("comment", "")))
            principal, problem = _check(data, str(entry.get("signature", "")), allowed_signers)
            if principal is not None and principal != entry.get("principal"):
                problem = f"signed by {principal}, not {entry.get('principal')}"
        checked.append({**entry, "valid": not problem, **({"problem": problem} if problem else {})})
    return checked


def _check(data: bytes, signature: str, allowed_signers: Any) -> tuple[str | None, str]:
    with tempfile.TemporaryDirectory(prefix="runbook-approval-") as tmp:
        sig = Path(tmp) / "approval.sig"
        sig.write_text(signature, encoding="utf-8")
        return check_signature(data, str(sig), str(allowed_signers), APPROVAL_NAMESPACE)


CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a plan's ``created_at`` may be (another machine's clock)."""


def check_plan(
    directory: Path,
    *,
    source_sha256: str,
    parameters: dict[str, Any],
    steps: list[dict[str, str]] | None = None,
    operator: str,
    allowed_signers: str | None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    now: datetime | None = None,
    target: str | None = None,
) -> Review:
    """Whether a run of this source with these parameters by ``operator`` may start.

    ``steps`` (the runner's, from the notebook it is about to run) must be the plan's too.

    A fleet's plan (``runbook plan --targets``) holds every target's parameters under
    ``targets``: a run of one target (``target``) is checked against its own row.
    """
    plan = read_plan(directory)
    lang = lang_of(plan)
    review = Review(plan, verify_approvals(plan, read_approvals(directory), allowed_signers))
    if plan.get("source_sha256") != source_sha256 or (
        steps is not None and plan.get("steps") != steps
    ):
        review.problems.append(say(lang, "source_changed"))
    planned = _planned_parameters(plan, target, review.problems)
    if planned is not None and planned != parameters:
        changed = sorted(
            k for k in set(planned) | set(parameters) if planned.get(k) != parameters.get(k)
        )
        review.problems.append(say(lang, "parameters_differ", names=", ".join(changed)))
    created = datetime.fromisoformat(str(plan["created_at"]).replace("Z", "+00:00"))
    age = (now or datetime.now(timezone.utc)) - created
    if age > max_age:
        review.problems.append(say(lang, "expired", made=plan["created_at"], max_age=max_age))
    elif age < -CLOCK_SKEW:  # a date to come would never expire
        review.problems.append(say(lang, "future", made=plan["created_at"]))
    for approval in review.approvals:
        if not approval["valid"]:
            review.problems.append(
                say(
                    lang,
                    "invalid",
                    role=approval.get("role"),
                    principal=approval.get("principal"),
                    problem=approval["problem"],
                )
            )
        elif approval.get("principal") == operator:
            approval["valid"] = False
            approval["problem"] = "the operator cannot approve their own run"
            review.problems.append(say(lang, "own_run", operator=operator, role=approval["role"]))
    roles_of: dict[str, set[str]] = {}
    for a in review.approvals:
        if a["valid"]:
            roles_of.setdefault(a["principal"], set()).add(a["role"])
    for principal, roles in sorted(roles_of.items()):
        if plan.get("distinct", True) and len(roles) > 1:
            review.problems.append(
                say(lang, "two_roles", principal=principal, roles=", ".join(sorted(roles)))
            )
    missing = review.missing()
    if missing:
        review.problems.append(say(lang, "approval_missing", roles=", ".join(missing)))
    return review


def _planned_parameters(
    plan: dict[str, Any], target: str | None, problems: list[str]
) -> dict[str, Any] | None:
    """The parameters the plan approved for this run (a fleet plan: for this target)."""
    targets = plan.get("targets")
    if targets is None:
        if target is not None:
            problems.append(say(lang_of(plan), "not_fleet_plan"))
            return None
        return dict(plan.get("parameters", {}))
    if target is None:
        problems.append(say(lang_of(plan), "fleet_plan"))
        return None
    if target not in targets:
        problems.append(say(lang_of(plan), "target_not_planned", target=target))
        return None
    return dict(targets[target])


def render_html(plan: dict[str, Any]) -> str:
    """plan.html: what a reviewer reads before approving."""
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(str(k))}</td><td><code>{esc(str(v))}</code></td></tr>"
        for k, v in plan["parameters"].items()
    )
    steps = "".join(
        f"<h3>{esc(s['step'])} ({esc(s['kind'])})</h3><pre>{esc(s['code'])}</pre>"
        for s in plan["steps"]
    )
    roles = "".join(f"<li>{esc(r)}</li>" for r in plan["roles_required"])
    lang = lang_of(plan)
    heading = {k: esc(say(lang, k)) for k in ("html_plan", "html_parameters", "html_roles")}
    return (
        f"<!doctype html><html lang='{lang}'><meta charset='utf-8'>"
        f"<title>{heading['html_plan']} {esc(plan['runbook']['id'])}</title>"
        f"<h1>{heading['html_plan']}: {esc(plan['runbook']['title'])}</h1>"
        f"<p>{esc(say(lang, 'runbook', id=plan['runbook']['id'], sha=plan['source_sha256']))}</p>"
        f"<h2>{heading['html_parameters']}</h2><table>{rows}</table>"
        f"<h2>{heading['html_roles']}</h2><ul>{roles}</ul>"
        f"<h2>{esc(say(lang, 'html_steps'))}</h2>{steps}\n"
    )


def environ_allowed_signers(given: str | None) -> str | None:
    """``--allowed-signers`` or ``RUNBOOK_ALLOWED_SIGNERS``."""
    return given or os.environ.get("RUNBOOK_ALLOWED_SIGNERS") or None


def record_approvals(
    review: Review,
    directory: Path,
    run_dir: Path,
    write: Callable[..., Any],
    items: list[tuple[str, str, str, bool]],
    operator: str,
) -> None:
    """Keep the plan and the verified approvals in the record; tick the approval items.

    ``items`` are (item id, text, role, names the operator) of the approval lists;
    ``write`` is the journal's ``write``. An approver's item is ticked
    ``via="signature"`` by the approver at the signature's time.
    """
    shutil.copyfile(directory / PLAN, run_dir / RECORD_PLAN)
    (run_dir / RECORD_APPROVALS).write_text(
        json.dumps(review.approvals, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    write(
        ev.APPROVALS,
        plan=review.plan["plan_id"],
        digest=review.plan["digest"],
        approvals=[
            {k: a.get(k) for k in ("role", "principal", "signed_at", "comment", "valid")}
            for a in review.approvals
        ],
    )
    by_role = {a["role"]: a for a in review.approvals if a.get("valid")}
    for item_id, text, role, is_operator in items:
        approval = by_role.get(role)
        if is_operator:
            write(ev.CHECK, id=item_id, text=text, checked=True, by=operator, via="operator")
        elif approval is not None:
            write(
                ev.CHECK,
                id=item_id,
                text=text,
                checked=True,
                by=approval["principal"],
                via="signature",
                signed_at=approval["signed_at"],
            )

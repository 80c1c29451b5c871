"""Approval roles: who must approve a run, read from the runbook (``## 承認`` / ``## Approval``).

Each item of the approval section is a role, named by its text before the first
colon (ASCII ``:`` or full-width ``：``), without a trailing parenthesised
condition: ``セキュリティチーム（セキュリティに影響する場合）`` is the role
``セキュリティチーム``, *conditional* — required unless the plan says it does not
apply. An item naming the operator (作業担当者, 実施者, Operator, Executor) is
satisfied by whoever runs. Front matter overrides the section:
``approvals: {roles: [...], distinct: true}`` or ``approvals: none``.

The result is plain data (:func:`approval_spec`), kept in the plan and the record.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from ..errors import RunbookError
from ..model import Runbook

OPERATOR_WORDS = ("作業担当者", "実施者", "作業者", "operator", "executor")
_CONDITION = re.compile(r"\s*[（(]([^（）()]*)[）)]\s*$")


def role_of(text: str) -> dict[str, Any]:
    """``{"role", "condition", "operator"}`` of one approval item's text."""
    head = re.split(r"[:：]", text, maxsplit=1)[0].strip()
    head = re.sub(r"^\s*\[[ xX]\]\s*", "", head).strip("*_ ")
    condition = None
    found = _CONDITION.search(head)
    if found and found.start() > 0:
        condition = found.group(1).strip()
        head = head[: found.start()].strip()
    folded = unicodedata.normalize("NFKC", head).casefold()
    return {
        "role": head,
        "condition": condition,
        "operator": folded in OPERATOR_WORDS,
    }


def approval_spec(runbook: Runbook) -> dict[str, Any]:
    """``{"roles": [...], "distinct": bool}``; no roles when nothing needs approving."""
    override = dict(runbook.meta.extra).get("approvals")
    if override is not None:
        return _from_front_matter(override, runbook.path)
    roles: list[dict[str, Any]] = []
    for checklist in runbook.checklists():
        if checklist.role != "approval":
            continue
        for item in checklist.items:
            role = role_of(item.text)
            if role["role"] and role["role"] not in {r["role"] for r in roles}:
                roles.append(role)
    return {"roles": roles, "distinct": True}


def _from_front_matter(value: Any, path: str) -> dict[str, Any]:
    if value is False or (isinstance(value, str) and value.strip().casefold() == "none"):
        return {"roles": [], "distinct": True}
    if not isinstance(value, dict) or not isinstance(value.get("roles", []), list):
        raise RunbookError(
            "front matter 'approvals' must be 'none' or {roles: [...], distinct: true}",
            path=path,
        )
    roles = [role_of(str(r)) for r in value.get("roles", []) if str(r).strip()]
    return {"roles": roles, "distinct": bool(value.get("distinct", True))}


def required_roles(spec: dict[str, Any], not_applicable: tuple[str, ...] = ()) -> list[str]:
    """The roles that need a signed approval: not the operator, not ruled out by the plan."""
    return [
        r["role"]
        for r in spec.get("roles", [])
        if not r["operator"] and not (r["condition"] and r["role"] in not_applicable)
    ]

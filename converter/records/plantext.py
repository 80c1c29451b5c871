"""What ``runbook plan``, ``runbook approve`` and a refused plan say, in the runbook's language.

A plan keeps its runbook's ``lang`` (``ja`` for the user's Japanese template);
its terminal rendering, ``plan.html``, the approve command's output and every
reason a run is refused by its plan are written in that language, English
otherwise.
"""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "runbook": "runbook: {id} (sha256 {sha})",
        "step": "step {step}:",
        "roles_required": "roles required: {roles}",
        "roles_not_applicable": "roles not applicable: {roles}",
        "digest": "digest: {digest}",
        "plan": "plan: {path}",
        "approve_command": "approve: runbook approve {plan} --role '{role}' --key KEY",
        "none": "(none)",
        "approved": "approved: {role} by {principal} at {at}",
        "missing": "missing: {roles}",
        "complete": "missing: none (the plan is complete)",
        "source_changed": (
            "the runbook changed after the plan was made (its source or a step's commands differ)"
        ),
        "parameters_differ": "parameters differ from the plan: {names}",
        "expired": "the plan expired (made {made}, max age {max_age})",
        "future": "the plan is dated in the future (made {made}): it would never expire",
        "invalid": "approval of {role} by {principal} is invalid: {problem}",
        "own_run": "{operator} cannot approve their own run ({role})",
        "two_roles": (
            "{principal} approved more than one role ({roles}); the approvers must be distinct"
        ),
        "approval_missing": "approval missing for: {roles}",
        "unknown_role": "role {role!r} needs no approval in this plan; roles: {roles}",
        "plan_changed": "plan.json was changed after it was made",
        "not_fleet_plan": "the plan is not a fleet's plan (make it with runbook plan --targets)",
        "fleet_plan": "the plan is a fleet's plan: run it with runbook run --targets FILE",
        "target_not_planned": "target {target!r} is not in the fleet's plan",
        "fleet_needs_plan": (
            "blocked: this runbook needs approvals ({roles}); make one plan for the fleet "
            "(runbook plan {source} --targets {targets}) and have it approved; "
            "--confirm never stands in for an approval"
        ),
        "html_plan": "Plan",
        "html_parameters": "Parameters",
        "html_roles": "Roles required",
        "html_steps": "Steps",
    },
    "ja": {
        "runbook": "ランブック: {id} (sha256 {sha})",
        "step": "ステップ {step}:",
        "roles_required": "必要な承認: {roles}",
        "roles_not_applicable": "該当しないロール: {roles}",
        "digest": "ダイジェスト: {digest}",
        "plan": "プラン: {path}",
        "approve_command": "承認コマンド: runbook approve {plan} --role '{role}' --key KEY",
        "none": "（なし）",
        "approved": "承認しました: {role}（{principal}、{at}）",
        "missing": "未承認: {roles}",
        "complete": "未承認: なし（プランの承認がそろいました）",
        "source_changed": (
            "プラン作成後にランブックが変更されました (ソースまたはステップのコマンドが異なります)"
        ),
        "parameters_differ": "パラメータがプランと異なります: {names}",
        "expired": "プランの有効期限が切れています (作成 {made}、有効期間 {max_age})",
        "future": "プランの作成日時が未来です (作成 {made}): 有効期限が切れなくなります",
        "invalid": "{principal} による {role} の承認は無効です: {problem}",
        "own_run": "{operator} は自分の実行を承認できません ({role})",
        "two_roles": (
            "{principal} が複数のロールを承認しています ({roles})。"
            "承認者は別々の人である必要があります"
        ),
        "approval_missing": "承認がありません: {roles}",
        "unknown_role": "ロール {role!r} はこのプランで承認を必要としません。ロール: {roles}",
        "plan_changed": "plan.json が作成後に変更されています",
        "not_fleet_plan": (
            "このプランはフリートのプランではありません (runbook plan --targets で作成してください)"
        ),
        "fleet_plan": (
            "このプランはフリートのプランです: runbook run --targets FILE で実行してください"
        ),
        "target_not_planned": "ターゲット {target!r} はフリートのプランにありません",
        "fleet_needs_plan": (
            "ブロック: このランブックには承認が必要です ({roles})。フリート全体のプランを作成し "
            "(runbook plan {source} --targets {targets})、承認を受けてください。"
            "--confirm は承認の代わりになりません"
        ),
        "html_plan": "プラン",
        "html_parameters": "パラメータ",
        "html_roles": "必要な承認",
        "html_steps": "ステップ",
    },
}


def lang_of(plan: Any) -> str:
    """The language of a plan (its runbook's), ``en`` when unknown."""
    runbook = plan.get("runbook") if isinstance(plan, dict) else None
    lang = runbook.get("lang") if isinstance(runbook, dict) else None
    return lang if lang in MESSAGES else "en"


def say(lang: str, key: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (English fallback), formatted with ``values``."""
    return MESSAGES.get(lang, MESSAGES["en"])[key].format(**values)

"""Messages the runtime shows an operator, in the runbook's language."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "timed_out": "timed out after {seconds:g} s; its process group was killed",
        "interrupted": "interrupted by the operator",
        "exit_code": "exited with status {code}",
        "state_unreadable": (
            "the variables it exported could not be read ({detail}):"
            " nothing was carried to the next step"
        ),
        "manual": "manual command: not run automatically",
        "rollback_only": "rollback step: runs only in rollback mode",
        "not_in_rollback": "skipped in rollback mode",
        "gate_not_shown": "checklist {list_id} has not been shown yet (run its cell first)",
        "blocked": "Step {step} is blocked: these confirmations are not ticked:",
        "blocked_headless": (
            "Confirm them and continue this run: runbook resume {run_id} --confirm ID "
            "(or --confirm all)."
        ),
        "approvals_blocked": "Step {step} is blocked: the approvals are not complete:",
        "approvals_missing": "approval missing for: {roles}",
        "not_planned": (
            "step {step} is not what plan {plan} approved (its cell was edited after "
            "approval, or is not in the plan): make a new plan and have it approved"
        ),
        "approvals_how": (
            "Make a plan (runbook plan SOURCE), have each role approved by someone else "
            "(runbook approve PLAN --role ROLE --key KEY) and put the plan id in the parameters "
            'cell (plan = "..."); ticking the approval list is not an approval.'
        ),
        "blocked_interactive": "Tick them above, then run this cell (or Run All) again.",
        "approvals_title": "Approvals",
        "approved_by": "approved by {by}, signature of {at}",
        "approval_needed": "missing: needs an approval",
        "approvals_no_plan": (
            "No plan yet: make one, have each role approved with runbook approve, then put "
            'its id in the parameters cell (plan = "...") and run again:'
        ),
        "approvals_run_these": "Each approver runs, with their own key (not on this server):",
        "dry_run": "DRY RUN: would run step {step} with:",
        "would_run": "Commands:",
        "expected_ok": "Expected result matched ({match})",
        "expected_missing": "expected result not found in the output of {step}: {what}",
        "expected_not_run": "Not checked: step {step} did not run",
        "run_button": "Run this command",
        "manual_hint": "Manual command: click to run it (journaled as run by {operator}).",
        "status": "Status",
        "step": "Step",
        "title": "Title",
        "kind": "Kind",
        "exit": "Exit",
        "duration": "Duration (s)",
        "summary": "Summary",
        "progress": "{done}/{total} steps settled",
        "secret_set": "set (from {variable})",
        "secret_unset": "not set (export {variable})",
        "parameter_changed": "{name} changed; the next steps use it",
        "parameter_invalid": "not used: {error}",
        "record_verdict": "Record",
        "parameters": "Parameters",
        "mode": "Mode",
        "operator": "Operator",
        "record": "Record",
        "rerun": "Step {step} already succeeded in this run. To run it again, click the button.",
        "rerun_button": "Run again",
        "continuing": "Continuing run {run_id}: already succeeded{where}: {done}; ",
        "continuing_next": "next: {step}",
        "continuing_done": "every step has succeeded",
        "not_restored": (
            "Not restored (never journaled: a credential, or a secret in another encoding): "
            "{names}. Export them again before the steps that need them."
        ),
        "finish_button": "Finish and write the record",
        "rollback_intro": (
            "Rollback runs the rollback steps below, in order, with the same parameters. "
            "Click to switch this run to rollback mode and run them now."
        ),
        "rollback_button": "Start rollback",
        "rollback_headless": (
            "Rollback steps run only in rollback mode (runbook"
            " run --rollback-on-failure, or -p rollback True)."
        ),
        "rollback_manual": "Rollback mode is on: run the rollback cells below.",
        "finished": (
            "This run is finished and sealed in {run_dir};"
            " run the setup cell again to start a new run."
        ),
    },
    "ja": {
        "timed_out": "{seconds:g} 秒でタイムアウトしました。プロセスグループを停止しました",
        "interrupted": "オペレーターにより中断されました",
        "exit_code": "終了ステータス {code} で終了しました",
        "state_unreadable": (
            "エクスポートされた変数を読み取れませんでした（{detail}）。"
            "次のステップには何も引き継いでいません"
        ),
        "manual": "手動コマンド: 自動では実行しません",
        "rollback_only": "ロールバック手順: ロールバックモードでのみ実行します",
        "not_in_rollback": "ロールバックモードのためスキップしました",
        "gate_not_shown": (
            "チェックリスト {list_id} がまだ表示されていません（先にそのセルを実行してください）"
        ),
        "blocked": "ステップ {step} はブロックされています。次の確認項目が未チェックです:",
        "blocked_headless": (
            "確認して実行を継続してください: runbook resume {run_id} --confirm ID"
            "（または --confirm all）"
        ),
        "approvals_blocked": "ステップ {step} はブロックされています。承認がそろっていません:",
        "approvals_missing": "承認がありません: {roles}",
        "not_planned": (
            "ステップ {step} は計画 {plan} で承認された内容ではありません（承認後にセルが"
            "編集されたか、計画にないステップです）。計画を作り直して承認を受けてください"
        ),
        "approvals_how": (
            "プランを作成し (runbook plan SOURCE)、各ロールを作業者以外が承認して "
            "(runbook approve PLAN --role ROLE --key KEY)、プラン ID をパラメータセルに"
            '設定してください (plan = "...")。承認リストのチェックは承認になりません。'
        ),
        "blocked_interactive": (
            "上のチェックボックスをチェックしてから、このセル"
            "（または Run All）を再実行してください。"
        ),
        "approvals_title": "承認",
        "approved_by": "{by} が承認 ({at} の署名)",
        "approval_needed": "未承認: 承認が必要です",
        "approvals_no_plan": (
            "プランがありません。プランを作成し、各ロールを runbook approve で承認してもらい、"
            'プラン ID をパラメータセルに設定して (plan = "...") 再実行してください:'
        ),
        "approvals_run_these": "各承認者が自分の鍵で実行します（このサーバーには置きません）:",
        "dry_run": "ドライラン: ステップ {step} は次の値で実行されます:",
        "would_run": "コマンド:",
        "expected_ok": "期待される結果と一致しました ({match})",
        "expected_missing": "{step} の出力に期待される結果が見つかりません: {what}",
        "expected_not_run": "未確認: ステップ {step} は実行されていません",
        "run_button": "このコマンドを実行",
        "manual_hint": "手動コマンド: クリックで実行します（{operator} の実行として記録）。",
        "status": "状態",
        "step": "ステップ",
        "title": "タイトル",
        "kind": "種別",
        "exit": "終了コード",
        "duration": "所要時間 (秒)",
        "summary": "サマリー",
        "progress": "{done}/{total} ステップ完了",
        "secret_set": "設定済み（{variable}）",
        "secret_unset": "未設定（{variable} を export してください）",
        "parameter_changed": "{name} を変更しました。以降のステップはこの値を使います",
        "parameter_invalid": "使用されません: {error}",
        "record_verdict": "レコード",
        "parameters": "パラメータ",
        "mode": "モード",
        "operator": "実行者",
        "record": "レコード",
        "rerun": (
            "ステップ {step} はこの実行で既に成功しています"
            "。再実行する場合はボタンをクリックしてください。"
        ),
        "rerun_button": "再実行",
        "continuing": "実行 {run_id} を継続します: 成功済み{where}: {done}。",
        "continuing_next": "次: {step}",
        "continuing_done": "全ステップが成功済みです",
        "not_restored": (
            "復元されない変数（認証情報、または別の符号化のシークレットのため記録されていない）: "
            "{names}。必要なステップの前に再度 export してください。"
        ),
        "finish_button": "終了してレコードを作成",
        "rollback_intro": (
            "ロールバックでは、以下のロールバック手順を同じパラメータで順に実行します。"
            "クリックするとこの実行をロールバックモードに切り替え、すぐに実行します。"
        ),
        "rollback_button": "ロールバック開始",
        "rollback_headless": (
            "ロールバック手順はロールバックモードでのみ実行されます（runbook run"
            " --rollback-on-failure または -p rollback True）。"
        ),
        "rollback_manual": (
            "ロールバックモードになりました。以下のロールバックのセルを実行してください。"
        ),
        "finished": (
            "この実行は終了し {run_dir} に記録済みです"
            "。新しい実行はセットアップセルから再実行してください。"
        ),
    },
}


def message(lang: str, key: str, **values: object) -> str:
    """The message ``key`` in ``lang`` (English fallback), formatted with ``values``."""
    table = MESSAGES.get(lang, MESSAGES["en"])
    return (table.get(key) or MESSAGES["en"][key]).format(**values)

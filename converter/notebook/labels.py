"""Words the notebook and the runtime show to an operator, in the runbook's language.

The user's runbooks are Japanese; an operator following one should not meet
English labels in the middle of it. Unknown languages fall back to English.
"""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "metadata": "Runbook metadata",
        "field": "Field",
        "value": "Value",
        "source": "Source",
        "converter": "Converter",
        "parameters_header": (
            "Parameters: override with `runbook run -p NAME VALUE` or `papermill -p NAME VALUE`"
        ),
        "settings_header": "Run settings",
        "secret_comment": "secret: read from the environment variable",
        "setup_comment": (
            "Runbook runtime: checks the parameters, opens the evidence journal, registers %%step"
        ),
        "finish_comment": "Summary of every step, then the evidence record",
        "dry_run": "show each step's commands and parameter values without running anything",
        "confirm": 'gates confirmed without ticking: checklist ids, item ids or "all"',
        "operator": "who runs this (default: RUNBOOK_OPERATOR, JUPYTERHUB_USER, OS user)",
        "runbook_mode": '"headless" under runbook run; "interactive" in JupyterLab',
        "rollback": "True runs the rollback steps instead of the procedure",
        "records_dir": "where records go (default: RUNBOOK_RECORDS or ./records)",
        "run_dir": "set by runbook run: this run's record directory",
        "plan": "approved plan id (runbook plan, runbook approve) if the runbook needs approvals",
        "step_timeout": (
            "default per-step timeout in seconds (default: RUNBOOK_TIMEOUT; the runbook's own wins)"
        ),
        "resume_from": "set by runbook resume: the record of the run this one continues",
        "expected_comment": "Expected result check: the step fails when its output does not match",
        "rollback_comment": (
            "Rollback: these steps run only in rollback mode; the button below starts it"
        ),
    },
    "ja": {
        "metadata": "ランブック情報",
        "field": "項目",
        "value": "値",
        "source": "ソース",
        "converter": "コンバーター",
        "parameters_header": (
            "パラメータ: `runbook run -p 名前 値` または `papermill -p 名前 値` で上書き"
        ),
        "settings_header": "実行設定",
        "secret_comment": "シークレット: 次の環境変数から読み込み",
        "setup_comment": "ランブック実行環境: パラメータ検証、証跡ジャーナル開始、%%step の登録",
        "finish_comment": "全ステップのサマリーと証跡レコードの作成",
        "dry_run": "コマンドとパラメータ値を表示するだけで何も実行しない",
        "confirm": 'チェックなしで通過させるゲート: チェックリストID、項目ID、または "all"',
        "operator": "実行者 (既定: RUNBOOK_OPERATOR, JUPYTERHUB_USER, OSユーザー)",
        "runbook_mode": 'runbook run では "headless"、JupyterLab では "interactive"',
        "rollback": "True でロールバック手順を実行",
        "records_dir": "レコードの保存先 (既定: RUNBOOK_RECORDS または ./records)",
        "run_dir": "runbook run が設定: この実行のレコードディレクトリ",
        "plan": "承認が必要な場合の承認済みプラン ID (runbook plan / runbook approve)",
        "step_timeout": (
            "ステップの既定タイムアウト秒数 (既定: RUNBOOK_TIMEOUT。ランブック自身の設定が優先)"
        ),
        "resume_from": "runbook resume が設定: この実行が継続する実行のレコード",
        "expected_comment": "期待される結果のチェック: 出力が一致しない場合ステップは失敗",
        "rollback_comment": (
            "ロールバック: 以下の手順はロールバックモードでのみ実行。下のボタンで開始"
        ),
    },
}


def label(lang: str, key: str) -> str:
    """The label ``key`` in ``lang``, English when the language has none."""
    return LABELS.get(lang, LABELS["en"]).get(key) or LABELS["en"][key]

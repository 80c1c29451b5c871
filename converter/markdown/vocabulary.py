"""The words the parser recognises, in Japanese and English, kept in one place.

Headings and labels are matched on their text (after Markdown parsing), so authors
can write ``## 手順``, ``## Procedure`` or ``## Steps to recover``. Order matters:
``ロールバック手順`` must be recognised as rollback before ``手順`` as procedure.
"""

from __future__ import annotations

import re
import unicodedata

SECTION_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rollback", ("ロールバック", "切り戻し", "rollback", "roll back", "roll-back", "revert")),
    (
        "troubleshooting",
        ("トラブルシューティング", "トラブルシュート", "troubleshoot", "known issues"),
    ),
    ("checklists", ("チェックリスト", "checklist")),
    ("prerequisites", ("前提条件", "事前準備", "prerequisite", "requirements", "before you begin")),
    ("impact", ("影響評価", "影響", "impact", "risk")),
    ("procedure", ("手順", "作業内容", "procedure", "steps", "instructions", "runbook steps")),
    ("overview", ("概要", "目的", "overview", "summary", "purpose", "background")),
    ("links", ("関連ドキュメント", "関連", "参考", "related", "references", "see also", "links")),
    ("history", ("変更履歴", "改訂履歴", "change history", "changelog", "revision history")),
    ("approval", ("承認", "approval", "sign-off", "sign off")),
)

LABEL_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("expected", ("期待される結果", "期待結果", "expected result", "expected output", "expected")),
    ("verify", ("確認", "verify", "verification", "confirm", "check")),
    ("symptom", ("症状", "symptom", "symptoms")),
    ("cause", ("原因", "cause", "causes", "possible causes")),
    ("remedy", ("対処法", "対処", "remedy", "resolution", "fix", "solution", "mitigation")),
)

PRE_EXECUTION_WORDS = ("実行前", "pre-execution", "before execution", "pre-flight", "preflight")

HEADER_KEYS: dict[str, str] = {
    "最終更新": "updated",
    "作成者": "author",
    "レビュー者": "reviewers",
    "カテゴリ": "category",
    "last updated": "updated",
    "updated": "updated",
    "author": "author",
    "owner": "author",
    "reviewers": "reviewers",
    "category": "category",
}

_STEP_NUMBER = re.compile(
    r"^\s*(?:step|ステップ|手順|問題|problem|issue|case)?\s*(\d+(?:[-.]\d+)*)\s*[.:：)]?\s*",
    re.IGNORECASE,
)


def section_kind(heading: str) -> str:
    """Classify an H2 heading; ``other`` when no word matches."""
    text = heading.casefold()
    for kind, words in SECTION_WORDS:
        if any(word in text for word in words):
            return kind
    return "other"


def section_level(levels: list[int], texts: list[str], titled: bool) -> int:
    """The heading level of a document's sections, from its headings after the title H1.

    The highest level present, except in a document with a title H1 and later H1s: its
    sections are the H2s, unless the later H1s name more kinds of section (``手順``,
    ``Rollback``…) than the H2s do (a document whose sections are H1s). A later
    ``# 付録`` or ``# Appendix`` made H1 the section level: every H2 became body text,
    and rollback and troubleshooting blocks ran as procedure steps.
    """
    level = min(levels, default=0)
    if not titled or level != 1:
        return level
    kinds = list(zip(levels, map(section_kind, texts)))
    named = [{kind for at, kind in kinds if at == n} - {"other"} for n in (1, 2)]
    return 2 if len(named[1]) > len(named[0]) else 1


def label_kind(paragraph: str) -> str | None:
    """Recognise a label paragraph such as ``**確認**:``; the paragraph must be only the label."""
    text = paragraph.strip().strip("*_ ").rstrip(":：").strip("*_ ").casefold()
    for kind, words in LABEL_WORDS:
        if text in words:
            return kind
    return None


def is_pre_execution(title: str) -> bool:
    """Whether a checklist heading names the pre-execution checklist."""
    return any(word in title.casefold() for word in PRE_EXECUTION_WORDS)


def step_number(title: str) -> tuple[str | None, str]:
    """Split ``1-1. バックアップ取得`` into (``1-1``, ``バックアップ取得``)."""
    found = _STEP_NUMBER.match(title)
    if not found:
        return None, title.strip()
    number = found.group(1).replace(".", "-")
    return number, title[found.end() :].strip() or title.strip()


def slugify(text: str) -> str:
    """A stable id from a title: ASCII words kept, other scripts kept as letters."""
    text = unicodedata.normalize("NFKC", text).casefold()
    words = re.findall(r"\w+", text)
    return "-".join(words)[:48].strip("-") or "step"


def detect_lang(text: str) -> str:
    """``ja`` when the prose contains kana, else ``en``."""
    return "ja" if re.search(r"[\u3040-\u30ff]", text) else "en"

"""Every ````` ````markdown ````` example in docs/format.md converts and validates.

Each one also does what the page says.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from nbcheck import assert_valid

from converter.markdown.parse import parse_text
from converter.notebook.build import build_notebook

FORMAT = Path(__file__).resolve().parents[2] / "docs" / "format.md"


def examples() -> list[tuple[int, str]]:
    """(line, Markdown) of each four-backtick ``markdown`` fence."""
    tokens = MarkdownIt("commonmark").parse(FORMAT.read_text(encoding="utf-8"))
    return [
        (t.map[0] + 1, t.content)
        for t in tokens
        if t.type == "fence"
        and t.markup.startswith("````")
        and t.info.strip() == "markdown"
        and t.map
    ]


EXAMPLES = examples()

# What the page promises about some examples, keyed by the example's H1.
PROMISED_STEPS = {
    "Runbook: Clean temporary files": ["1-1", "2-1"],
    "Runbook: Restart the worker": ["1-1"],
    "ランブック: キャッシュ削除": ["pre-1", "1-1"],
    "Runbook: Rotate logs": ["1-1", "1-1.2", "checksum", "verify-the-archive"],
    "Runbook: Fence attributes": ["1-1", "1-2", "1-3", "1-4"],
    "Runbook: Gated steps": ["1-1", "1-2"],
    "Runbook: Change a setting": ["1-1", "rollback-1", "rollback-2", "trouble-1"],
    "Runbook: Console blocks": ["1-1", "1-2"],
    "Runbook: Task lists": ["1-1"],
}
PROMISED_CHECKLISTS = {
    "ランブック: キャッシュ削除": [("prerequisites-1", "pre"), ("approval", "approval")],
    "Runbook: Gated steps": [
        ("prerequisites-1", "pre"),
        ("1-1.verify", "verify"),
        ("checklists-1", "pre"),
        ("checklists-2", "info"),
    ],
    "Runbook: Task lists": [("1-1-1", "info"), ("1-1-2", "info")],
}


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES) >= 9


@pytest.mark.parametrize(
    ("line", "markdown"), EXAMPLES, ids=[f"format.md:{line}" for line, _ in EXAMPLES]
)
def test_example_converts_and_validates(line: int, markdown: str) -> None:
    runbook = parse_text(markdown, path=f"docs/format.md:{line}")
    nb = assert_valid(build_notebook(runbook))
    steps = [
        c.metadata["runbook"]["step_id"]
        for c in nb.cells
        if c.metadata["runbook"]["role"] == "step"
    ]
    assert steps, "every example has at least one step"
    title = (
        runbook.title_markdown.text.splitlines()[0].lstrip("# ") if runbook.title_markdown else ""
    )
    if title in PROMISED_STEPS:
        assert steps == PROMISED_STEPS[title]
    if title in PROMISED_CHECKLISTS:
        assert [(c.id, c.role) for c in runbook.checklists()] == PROMISED_CHECKLISTS[title]


def test_documented_examples_behave_as_described() -> None:
    """Spot checks of sentences on the page: console prompts, expected-result checks, parameters."""
    by_title = {}
    for _, markdown in EXAMPLES:
        runbook = parse_text(markdown, path="format.md")
        by_title[runbook.meta.title] = runbook
    console = [
        b for b in by_title["Runbook: Fence attributes"].shell_blocks() if b.language == "console"
    ]
    assert [b.code for b in console] == ['uname -s\necho "only the commands run"\n']
    blocks = by_title["Runbook: Console blocks"].shell_blocks()
    assert [b.code for b in blocks] == [
        "kubectl get nodes\nkubectl describe node node-1 \\\n    | grep -i taint\n",
        (
            "# Store the cluster settings first.\n"
            "kubectl -n demo get configmap settings -o yaml > settings.yaml\n"
        ),
    ]
    assert by_title["Runbook: Console blocks"].no_command[0][1] == "console"
    tasks = by_title["Runbook: Task lists"]
    assert [[i.text for i in c.items] for c in tasks.checklists()] == [
        ["Announce the maintenance in #ops", "Drain the node:"],
        ["No pods are left on node-1"],
    ]
    cells = [
        c.metadata["runbook"].get("step_id") or c.metadata["runbook"].get("checklist_id")
        for c in build_notebook(tasks).cells
        if c.metadata["runbook"]["role"] in ("step", "checklist")
    ]
    assert cells == ["1-1-1", "1-1", "1-1-2"]
    matches = [[e.match for e in s.expected] for s in by_title["Runbook: Expected results"].steps()]
    assert matches == [["contains"], ["regex"], [None]]
    deploy = by_title["Runbook: Deploy the application"]
    assert [(p.name, p.type) for p in deploy.parameters] == [
        ("environment", "str"),
        ("version", "str"),
        ("replicas", "int"),
        ("hosts", "list"),
        ("notify", "bool"),
        ("api_token", "str"),
    ]
    assert deploy.meta.id == "deploy-app"
    assert by_title["Restart the worker"].meta.timeout == 120.0

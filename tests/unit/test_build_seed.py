"""The user's template (and its English counterpart) become the notebook the issue describes.

The expectations are read from the Markdown independently of the converter, with a
plain markdown-it-py pass: the fences under each numbered step, the rollback and
troubleshooting sections, every ``- [ ]`` item.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from nbcheck import assert_valid

from converter.markdown.parse import parse_file, parse_text
from converter.notebook.build import build_notebook

REPO = Path(__file__).resolve().parents[2]
STEP_IDS = ["1-1", "1-2", "2-1", "3-1", "3-2", "4-1", "4-2", "4-3"]
# 2-2 is the template's placeholder step: its bash block holds only a comment, so it runs
# nothing and stays documentation (docs/format.md: a shell block with no command is no step).
PLACEHOLDER_STEP = "2-2"


@dataclass(frozen=True)
class Headings:
    """The seed's H2 headings in one language."""

    procedure: str
    rollback: str
    troubleshooting: str
    impact: str
    links: str
    history: str


TEMPLATES = {
    "runbook-template.ja.md": Headings(
        "手順",
        "ロールバック手順",
        "トラブルシューティング",
        "影響評価",
        "関連ドキュメント",
        "変更履歴",
    ),
    "runbook-template.en.md": Headings(
        "Procedure", "Rollback", "Troubleshooting", "Impact", "Related documents", "Change history"
    ),
}


@dataclass
class Seed:
    """One template: its source lines, the notebook built from it, what markdown-it finds."""

    lines: list[str]
    cells: list[Any]
    headings: Headings
    fences: dict[str, list[tuple[str, str]]]  # H2 title -> [(nearest H3/H4 title, content)]
    tasks: list[str]


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def seed(request: pytest.FixtureRequest) -> Seed:
    path = REPO / "templates" / request.param
    nb = build_notebook(parse_file(path), source_name=f"templates/{request.param}")
    assert_valid(nb)
    text = path.read_text(encoding="utf-8")
    fences, tasks = _independent_read(text)
    return Seed(text.splitlines(), nb.cells, TEMPLATES[request.param], fences, tasks)


def _independent_read(text: str) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """Bash fences grouped by H2 (with the heading above them) and every unchecked task item."""
    tokens = MarkdownIt("commonmark").parse(text)
    fences: dict[str, list[tuple[str, str]]] = {}
    tasks: list[str] = []
    h2, below = "", ""
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            title = tokens[index + 1].content.strip()
            if token.tag == "h2":
                h2, below = title, ""
            elif token.tag in ("h3", "h4"):
                below = title
        elif token.type == "fence" and token.info.split()[:1] == ["bash"]:
            fences.setdefault(h2, []).append((below, token.content))
        elif token.type == "inline" and token.content.startswith("[ ] "):
            tasks.append(token.content[4:].splitlines()[0].strip())
    return fences, tasks


def meta(cell: Any) -> dict[str, Any]:
    return cell.metadata["runbook"]


def step_cells(seed: Seed, kind: str) -> list[Any]:
    return [c for c in seed.cells if meta(c)["role"] == "step" and meta(c)["kind"] == kind]


def heading_cell(seed: Seed, title: str) -> int:
    """Index of the Markdown cell holding the H2 ``## title``."""
    for index, cell in enumerate(seed.cells):
        if cell.cell_type == "markdown" and f"## {title}" in cell.source.splitlines():
            return index
    raise AssertionError(f"no Markdown cell holds '## {title}'")


def test_exactly_the_procedure_steps_with_commands_verbatim(seed: Seed) -> None:
    cells = step_cells(seed, "procedure")
    assert [meta(c)["step_id"] for c in cells] == STEP_IDS
    fences = seed.fences[seed.headings.procedure]
    expected = [(title, c) for title, c in fences if title.split(".")[0] != PLACEHOLDER_STEP]
    placeholder = [c for title, c in fences if title.split(".")[0] == PLACEHOLDER_STEP]
    assert all(line.startswith("#") for c in placeholder for line in c.splitlines())
    assert [title.split(".")[0] for title, _ in expected] == STEP_IDS
    for cell, (_, content) in zip(cells, expected):
        step_id = meta(cell)["step_id"]
        assert cell.source == f"%%step {step_id}\n" + content.rstrip("\n")
        assert seed.lines[meta(cell)["source_line"] - 1] == "```bash"


def test_step_cells_sit_under_their_step_heading(seed: Seed) -> None:
    for cell in step_cells(seed, "procedure"):
        step_id = meta(cell)["step_id"]
        before = seed.cells[seed.cells.index(cell) - 1]
        assert before.cell_type == "markdown"
        assert before.source.splitlines()[-1].startswith(f"#### {step_id}. ")


def test_the_four_rollback_steps_are_in_the_rollback_section(seed: Seed) -> None:
    start = heading_cell(seed, seed.headings.rollback)
    end = heading_cell(seed, seed.headings.troubleshooting)
    cells = step_cells(seed, "rollback")
    assert [meta(c)["step_id"] for c in cells] == [
        "rollback-1",
        "rollback-2",
        "rollback-3",
        "rollback-4",
    ]
    assert all(start < seed.cells.index(c) <= end for c in cells)
    expected = [content for _, content in seed.fences[seed.headings.rollback]]
    assert [c.source.split("\n", 1)[1] for c in cells] == [e.rstrip("\n") for e in expected]
    assert all(c.source.startswith(f"%%step {meta(c)['step_id']} kind=rollback\n") for c in cells)
    procedure = [seed.cells.index(c) for c in step_cells(seed, "procedure")]
    assert max(procedure) < start, "a procedure step after the rollback heading"


def test_troubleshooting_commands_are_manual_only_cells(seed: Seed) -> None:
    start = heading_cell(seed, seed.headings.troubleshooting)
    cells = step_cells(seed, "troubleshooting")
    assert [meta(c)["step_id"] for c in cells] == ["trouble-1", "trouble-2", "trouble-3"]
    assert all(seed.cells.index(c) > start for c in cells)
    expected = [content for _, content in seed.fences[seed.headings.troubleshooting]]
    assert len(expected) == 3
    for cell, content in zip(cells, expected):
        magic, code = cell.source.split("\n", 1)
        assert magic == f"%%step {meta(cell)['step_id']} kind=troubleshooting"
        assert code == content.rstrip("\n")


def test_every_task_item_is_in_a_checklist_cell(seed: Seed) -> None:
    ticked: list[str] = []
    for cell in seed.cells:
        if meta(cell)["role"] == "checklist":
            call = (
                ast.parse(cell.source).body[0].value
            )  # runbook.checklist(id, title, items, role=…)
            list_id, _, items = (ast.literal_eval(arg) for arg in call.args)
            assert list_id == meta(cell)["checklist_id"]
            assert all(item_id.startswith(f"{list_id}.") for item_id, _, _ in items)
            ticked.extend(text for _, text, _ in items)
    assert len(seed.tasks) == sum(line.startswith("- [ ] ") for line in seed.lines) == 46
    assert sorted(ticked) == sorted(seed.tasks)


def test_impact_table_links_and_change_history_are_markdown_cells(seed: Seed) -> None:
    h = seed.headings
    for title in (h.impact, h.links, h.history):
        section = _section_lines(seed.lines, title)
        cell = seed.cells[heading_cell(seed, title)]
        cell_lines = cell.source.splitlines()
        assert cell.cell_type == "markdown"
        assert _is_subsequence([x for x in section if x.strip()], cell_lines), (
            f"{title} not verbatim"
        )
        table = [x for x in section if x.startswith("|")]
        if table:  # a table must stay one contiguous block
            assert "\n".join(table) in cell.source


def _section_lines(lines: list[str], title: str) -> list[str]:
    start = lines.index(f"## {title}")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] == "---")
    return lines[start:end]


def _is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(line == candidate for candidate in it) for line in needles)


def test_seed_is_kept_as_the_user_wrote_it(shared_dir: Path) -> None:
    seed = shared_dir / "seed" / "runbook-template.ja.md"
    if not seed.exists():
        pytest.skip(f"{seed} is absent")
    assert (REPO / "templates" / "runbook-template.ja.md").read_bytes() == seed.read_bytes()


@pytest.mark.parametrize(
    "appendix", ["# 付録\n\n補足。\n", "# Appendix: rollback notes\n\n補足。\n"]
)
def test_a_later_h1_keeps_the_template_sections(appendix: str) -> None:
    """A second H1 after the sections made H1 the section level: every H2 became body text
    and the rollback and troubleshooting blocks ran as procedure steps."""
    text = (REPO / "templates" / "runbook-template.ja.md").read_text(encoding="utf-8")
    runbook = parse_text(text + "\n" + appendix, path="runbook-template.ja.md")
    kinds = [b.kind for b in runbook.shell_blocks()]
    assert {kind: kinds.count(kind) for kind in set(kinds)} == {
        "procedure": 8,
        "rollback": 4,
        "troubleshooting": 3,
        "prerequisite": 1,
    }
    assert [s.kind for s in runbook.sections][-1] == "other"
    assert runbook.sections[-1].title == appendix.splitlines()[0].removeprefix("# ")

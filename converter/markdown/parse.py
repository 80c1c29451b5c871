"""Markdown runbook → :class:`~converter.model.Runbook`.

``blocks`` finds the Markdown structure; this module gives it runbook meaning:
sections by heading words, phases and numbered steps, labelled parts (expected
result, verification list, symptom/cause/remedy) and stable ids for steps and
checklists. A document with none of that structure still converts: every shell
block becomes a step, in order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ParseError, read_user_text
from ..model import (
    Checklist,
    ChecklistItem,
    Markdown,
    Runbook,
    Section,
    ShellBlock,
    Step,
)
from . import blocks as b
from .checks import check_fence_attributes, expected_result, list_role
from .frontmatter import declared_parameters, load_front_matter, runbook_metadata
from .vocabulary import (
    HEADER_KEYS,
    section_kind,
    section_level,
    slugify,
    step_number,
)

STEP_KIND = {
    "rollback": "rollback",
    "troubleshooting": "troubleshooting",
    "prerequisites": "prerequisite",
}
ID_PREFIX = {"rollback": "rollback-", "troubleshooting": "trouble-", "prerequisite": "pre-"}


def parse_file(path: str | Path) -> Runbook:
    """Read and parse a runbook file; every problem is a ParseError with ``path:line``."""
    shown = str(path)
    text = read_user_text(path, ParseError, "file")
    return parse_text(text.removeprefix("\ufeff"), path=shown)


def parse_text(text: str, *, path: str = "<runbook>") -> Runbook:
    """Parse runbook Markdown held in memory."""
    if not text.strip():
        raise ParseError("empty runbook: nothing to convert", path=path, line=1)
    doc = b.read_document(text, path)
    front = load_front_matter(doc.front_matter, path=path, line=1)
    parameters = declared_parameters(front, path=path, text=doc.front_matter, line=1)
    walker = _Walker(path=path, lines=doc.lines)
    title, sections = walker.sections(doc)
    meta = runbook_metadata(front, title, walker.header, path, text)
    return Runbook(
        path=path,
        source_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        meta=meta,
        parameters=parameters,
        sections=tuple(sections),
        title_markdown=walker.title_markdown,
        body_start=doc.front_matter_line + 1,
        source_lines=doc.lines,
        no_command=tuple((f.start + 1, f.language) for f in doc.no_command),
    )


@dataclass
class _StepDraft:
    id: str
    title: str
    kind: str
    line: int
    phase: str | None
    explicit: bool
    items: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    shell_count: int = 0
    last_block: str | None = None


class _Walker:
    """One pass over the blocks, keeping the ids unique and the lines attached."""

    def __init__(self, *, path: str, lines: tuple[str, ...]):
        self.path = path
        self.lines = lines
        self.header: list[tuple[str, str]] = []
        self.title_markdown: Markdown | None = None
        self.step_ids: dict[str, int] = {}
        self.list_counts: dict[str, int] = {}
        self.loose_counts: dict[str, int] = {}
        self.section_title = ""

    # -- sections -------------------------------------------------------------
    def sections(self, doc: b.Document) -> tuple[str | None, list[Section]]:
        blocks = list(doc.blocks)
        title, title_heading = None, None
        headings = [x for x in blocks if isinstance(x, b.Heading)]
        if headings and headings[0].level == 1:
            title, title_heading = headings[0].text, headings[0]
            headings = headings[1:]
        level = section_level(
            [h.level for h in headings], [h.text for h in headings], title is not None
        )
        groups: list[tuple[b.Heading | None, list[b.Block]]] = [(None, [])]
        for block in blocks:
            if title is not None and block is title_heading:
                groups[0] = (block, groups[0][1])
                continue
            if isinstance(block, b.Heading) and block.level <= level:
                groups.append((block, []))
            else:
                groups[-1][1].append(block)
        head, intro = groups[0]
        sections = []
        if head is not None:
            self.title_markdown, title_end = self._title(head, intro)
            # Only the title's own lines go into the title cell; what follows stays body.
            intro = [x for x in intro if x.start < head.start or x.start >= title_end]
        if intro:
            sections.append(self._section(None, intro, level))
        sections.extend(self._section(h, body, level) for h, body in groups[1:])
        return title, sections

    def _title(self, head: b.Heading, intro: list[b.Block]) -> tuple[Markdown, int]:
        """The title cell (H1, header blockquote, intro prose) and the line after it."""
        end = head.end
        for block in (x for x in intro if x.start >= head.start):
            if isinstance(block, b.TaskList) or (isinstance(block, b.Fence) and block.shell):
                break
            end = block.end
            if isinstance(block, b.Prose):
                self._read_header(block)
        return Markdown(self._slice(head.start, end), head.start + 1), end

    def _read_header(self, prose: b.Prose) -> None:
        for raw in self.lines[prose.start : prose.end]:
            text = raw.strip()
            if not text.startswith(">"):
                continue
            key, sep, value = text.lstrip("> ").partition(":")
            if not sep:
                key, sep, value = text.lstrip("> ").partition("：")
            name = HEADER_KEYS.get(key.strip().strip("*").casefold())
            if sep and name:
                self.header.append((name, value.strip()))

    def _section(self, head: b.Heading | None, body: list[b.Block], level: int) -> Section:
        # A heading above the section level (``# 付録`` after the H2 sections) ends the
        # section before it and starts one that is only documentation by its name.
        kind = section_kind(head.text) if head and head.level == level else "other"
        self.section_title = head.text if head else ""
        step_kind = STEP_KIND.get(kind, "procedure")
        levels = {x.level for x in body if isinstance(x, b.Heading)}
        if kind in ("procedure", "rollback"):
            step_level = level + 2 if level + 2 in levels else level + 1
        elif kind == "troubleshooting":
            step_level = level + 1
        else:
            step_level = None
        items: list = []
        if head is not None:
            items.append(Markdown(self._slice(head.start, head.end), head.start + 1))
        self._fill(items, body, kind, step_kind, step_level)
        title, line = (head.text, head.start + 1) if head else ("", 1)
        return Section(kind=kind, title=title, line=line, items=tuple(items))  # type: ignore[arg-type]

    # -- section bodies -------------------------------------------------------
    def _fill(
        self, items: list, body: list[b.Block], kind: str, step_kind: str, step_level: int | None
    ) -> None:
        step: _StepDraft | None = None
        phase: str | None = None
        heading: str | None = None
        pending: b.Label | None = None
        for block in body:
            if isinstance(block, b.Heading):
                self._flush_label(pending, step.items if step else items)
                pending = None
                if step_level is not None and block.level == step_level:
                    self._close(step, items)
                    step = self._open_step(block, step_kind, phase)
                    step.items.append(
                        Markdown(self._slice(block.start, block.end), block.start + 1)
                    )
                    continue
                if step_level is not None and block.level < step_level:
                    self._close(step, items)
                    step, phase = None, block.text
                heading = block.text
                self._prose(step.items if step else items, block.start, block.end)
            elif isinstance(block, b.Label):
                self._flush_label(pending, step.items if step else items)
                pending = block
            elif isinstance(block, b.Prose) and not self._slice(block.start, block.end).strip():
                continue
            else:
                target = step.items if step else items
                self._place(block, pending, step, target, kind, step_kind, heading)
                pending = None
        self._flush_label(pending, step.items if step else items)
        self._close(step, items)

    def _place(self, block, pending, step, target, kind, step_kind, heading) -> None:
        """Put one non-heading block, consuming the label that announced it."""
        label = pending.kind if pending else None
        if isinstance(block, b.Fence) and block.shell:
            self._flush_label(pending, target)
            if step is None:
                loose = self._open_loose(block, step_kind, heading)
                self._add_shell(loose, block)
                target.append(self._freeze(loose))
            else:
                if pending:
                    self._remember_label(step, pending, block)
                self._add_shell(step, block)
        elif label == "expected" and step is not None:
            target.append(
                expected_result(
                    pending,
                    block,
                    self._slice(pending.start, block.end),
                    self._slice(block.start, block.end),
                    self.path,
                    step.last_block,
                )
            )
        elif isinstance(block, b.TaskList):
            role = (
                "verify" if (label == "verify" and step is not None) else list_role(kind, heading)
            )
            self._flush_label(pending, target)
            if self._has_more_than_tasks(block):  # keep the prose a checklist cell would drop
                target.append(Markdown(self._slice(block.start, block.end), block.start + 1))
            target.append(self._checklist(block, role, step, kind, heading))
        elif pending:
            if step is not None:
                self._remember_label(step, pending, block)
            target.append(Markdown(self._slice(pending.start, block.end), pending.start + 1))
        else:
            self._prose(target, block.start, block.end)

    def _has_more_than_tasks(self, tasks: b.TaskList) -> bool:
        """Whether the list holds lines besides its task items (plain items, sub-bullets)."""
        task_lines = {item.line for item in tasks.items}
        return any(
            self.lines[i].strip() and i not in task_lines for i in range(tasks.start, tasks.end)
        )

    def _flush_label(self, pending: b.Label | None, target: list) -> None:
        """A label with no block of its kind after it is plain prose."""
        if pending is not None:
            target.append(Markdown(self._slice(pending.start, pending.end), pending.start + 1))

    def _remember_label(self, step: _StepDraft, label: b.Label, block: b.Block) -> None:
        if label.kind in ("symptom", "cause", "remedy"):
            text = (
                block.content if isinstance(block, b.Fence) else self._slice(block.start, block.end)
            )
            step.labels.append((label.kind, text.strip()))

    def _prose(self, target: list, start: int, end: int) -> None:
        text = self._slice(start, end)
        if not text.strip() or all(
            line.strip() in ("", "---", "***", "___") for line in text.splitlines()
        ):
            return
        target.append(Markdown(text, b.first_text_line(self.lines, start, end) + 1))

    def _slice(self, start: int, end: int) -> str:
        chunk = list(self.lines[start:end])
        while chunk and not chunk[-1].strip():
            chunk.pop()
        while chunk and not chunk[0].strip():
            chunk.pop(0)
        return "\n".join(chunk)

    # -- steps ----------------------------------------------------------------
    def _open_step(self, heading: b.Heading, kind: str, phase: str | None) -> _StepDraft:
        number, title = step_number(heading.text)
        base = number if number else slugify(title)
        step_id = ID_PREFIX.get(kind, "") + base
        step_id = self._claim(step_id, explicit=number is not None, line=heading.start + 1)
        return _StepDraft(
            step_id, title, kind, heading.start + 1, phase, explicit=number is not None
        )

    def _open_loose(self, fence: b.Fence, kind: str, heading: str | None) -> _StepDraft:
        name = dict(fence.attrs).get("name")
        if name:
            step_id = self._claim(name, explicit=True, line=fence.start + 1)
            return _StepDraft(step_id, name, kind, fence.start + 1, None, explicit=True)
        if kind == "prerequisite":
            self.loose_counts[kind] = self.loose_counts.get(kind, 0) + 1
            base = f"pre-{self.loose_counts[kind]}"
        else:
            base = ID_PREFIX.get(kind, "") + (slugify(heading) if heading else "step")
        step_id = self._claim(base, explicit=False, line=fence.start + 1)
        return _StepDraft(step_id, heading or step_id, kind, fence.start + 1, None, explicit=False)

    def _add_shell(self, step: _StepDraft, fence: b.Fence) -> None:
        check_fence_attributes(fence, self.path)
        step.shell_count += 1
        name = dict(fence.attrs).get("name")
        if step.shell_count == 1:
            cell_id = step.id
        elif name:
            cell_id = self._claim(name, explicit=True, line=fence.start + 1)
        else:
            cell_id = self._claim(
                f"{step.id}.{step.shell_count}", explicit=True, line=fence.start + 1
            )
        step.last_block = cell_id
        code = b.shell_code(fence.language, fence.content)
        comments = (
            tuple(fence.start + 2 + n for n in b.session_comments(fence.content))
            if fence.language == "console"
            else ()
        )
        step.items.append(
            ShellBlock(
                cell_id,
                code,
                fence.language,
                fence.attrs,
                fence.start + 1,
                kind=step.kind,  # type: ignore[arg-type]
                set_aside=comments,
            )
        )

    def _claim(self, step_id: str, *, explicit: bool, line: int) -> str:
        if step_id in self.step_ids:
            if explicit:
                raise ParseError(
                    f"duplicate step id '{step_id}' (first used at line {self.step_ids[step_id]}); "
                    "renumber the step or give its block a unique {name=...}",
                    path=self.path,
                    line=line,
                )
            suffix = 2
            while f"{step_id}-{suffix}" in self.step_ids:
                suffix += 1
            step_id = f"{step_id}-{suffix}"
        self.step_ids[step_id] = line
        return step_id

    def _close(self, step: _StepDraft | None, items: list) -> None:
        if step is not None:
            items.append(self._freeze(step))

    def _freeze(self, step: _StepDraft) -> Step:
        return Step(
            id=step.id,
            title=step.title,
            kind=step.kind,  # type: ignore[arg-type]
            line=step.line,
            items=tuple(step.items),
            phase=step.phase,
            labels=tuple(step.labels),
        )

    # -- checks ---------------------------------------------------------------
    def _checklist(
        self, tasks: b.TaskList, role: str, step, kind: str, heading: str | None
    ) -> Checklist:
        if role == "verify":  # a step's second list is .verify-2: one id lost a list's items
            key = f"{step.id}.verify"
            self.list_counts[key] = self.list_counts.get(key, 0) + 1
            list_id = key if self.list_counts[key] == 1 else f"{key}-{self.list_counts[key]}"
        else:
            owner = step.id if step is not None else kind
            self.list_counts[owner] = self.list_counts.get(owner, 0) + 1
            list_id = (
                f"{owner}-{self.list_counts[owner]}" if kind != "approval" or step else "approval"
            )
            if list_id == "approval" and self.list_counts[owner] > 1:
                list_id = f"approval-{self.list_counts[owner]}"
        items = tuple(
            ChecklistItem(f"{list_id}.{n}", item.text, item.checked, item.line + 1)
            for n, item in enumerate(tasks.items, start=1)
        )
        title = step.title if step is not None else heading or self.section_title or kind
        return Checklist(list_id, title, items, tasks.start + 1, role)  # type: ignore[arg-type]

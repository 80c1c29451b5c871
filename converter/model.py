"""The typed model of a runbook: what the parser produces and every later stage reads.

All classes are frozen: a parsed runbook is a value, so the builder, the linter and
the runtime specification can share it without defensive copies. Every element keeps
the 1-based line of the source it came from, so errors and notebook cells point back
at the Markdown an author edits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

StepKind = Literal["prerequisite", "procedure", "rollback", "troubleshooting"]
SectionKind = Literal[
    "overview",
    "prerequisites",
    "impact",
    "procedure",
    "rollback",
    "troubleshooting",
    "checklists",
    "links",
    "history",
    "approval",
    "other",
]


@dataclass(frozen=True)
class Parameter:
    """A declared parameter; it reaches every shell step as an environment variable."""

    name: str
    type: str = "str"
    default: Any = None
    choices: tuple[Any, ...] | None = None
    pattern: str | None = None
    description: str = ""
    required: bool = False
    secret: bool = False
    line: int = 1


@dataclass(frozen=True)
class Markdown:
    """Prose sliced verbatim from the source (the author's bytes survive)."""

    text: str
    line: int


@dataclass(frozen=True)
class ShellBlock:
    """One shell fence; it becomes one step cell with its own unique ``step_id``."""

    step_id: str
    code: str
    language: str
    attrs: tuple[tuple[str, str], ...]
    line: int
    kind: StepKind = "procedure"
    set_aside: tuple[int, ...] = ()
    """Source lines of ``#`` lines a console session set aside as comments (not run)."""

    def attr(self, name: str, default: str | None = None) -> str | None:
        """The value of a fence attribute such as ``timeout`` or ``manual``."""
        return dict(self.attrs).get(name, default)

    def flag(self, name: str) -> bool:
        """Whether a boolean fence attribute (``manual=true``) is set."""
        return is_true(str(self.attr(name, "false")))


SWITCHES = ("manual", "continue_on_error")
"""Fence attributes that are true or false (anything else is a parse error)."""
STEP_ATTRIBUTES = ("name", "timeout", *SWITCHES)
"""Every attribute a shell fence may carry; ``runbook lint`` warns about any other."""
TRUE = ("true", "yes", "1", "on")
FALSE = ("false", "no", "0", "off")
"""How a switch or a bool parameter may be written (lower-cased)."""


def is_true(value: str) -> bool:
    """A switch's value (``manual=yes``) as a bool; the parser refused anything unknown."""
    return value.lower() in TRUE


def expected_regex(text: str) -> re.Pattern[str]:
    """A ``match=regex`` expected result as its check searches the step's output."""
    return re.compile(text.strip("\n"), re.MULTILINE)


@dataclass(frozen=True)
class Expected:
    """An expected result; with ``match`` set it is a check that can fail its step."""

    text: str
    markdown: str
    line: int
    match: str | None = None
    step_id: str | None = None
    """The step cell whose output the check reads: the last shell block before it (the
    step's last block was read before it ran, and the check passed as "not run")."""


@dataclass(frozen=True)
class ChecklistItem:
    """One ``- [ ]`` task; ``id`` is stable across conversions (list id + position)."""

    id: str
    text: str
    checked: bool
    line: int


@dataclass(frozen=True)
class Checklist:
    """A task list; ``role`` says what it gates: ``verify`` (its step), ``pre`` (step one)."""

    id: str
    title: str
    items: tuple[ChecklistItem, ...]
    line: int
    role: Literal["verify", "pre", "info", "approval"] = "info"


StepItem = Markdown | ShellBlock | Expected | Checklist


@dataclass(frozen=True)
class Step:
    """A numbered step (or a troubleshooting problem) with its prose, commands and checks.

    ``labels`` carries the labelled parts of a troubleshooting entry
    (``symptom``, ``cause``, ``remedy``) as verbatim Markdown.
    """

    id: str
    title: str
    kind: StepKind
    line: int
    items: tuple[StepItem, ...]
    phase: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def shell_blocks(self) -> tuple[ShellBlock, ...]:
        """The step's shell blocks, in order."""
        return tuple(i for i in self.items if isinstance(i, ShellBlock))

    @property
    def verify(self) -> Checklist | None:
        """The step's first confirmation checklist, if any."""
        return next(iter(self.verify_lists), None)

    @property
    def verify_lists(self) -> tuple[Checklist, ...]:
        """The step's confirmation checklists (``1-1.verify``, ``1-1.verify-2``…): each one
        gates the next step."""
        return tuple(i for i in self.items if isinstance(i, Checklist) and i.role == "verify")

    @property
    def expected(self) -> tuple[Expected, ...]:
        """Expected results declared in the step."""
        return tuple(i for i in self.items if isinstance(i, Expected))


SectionItem = Markdown | Step | Checklist


@dataclass(frozen=True)
class Section:
    """An H2 section (or the untitled start of the document), classified by its heading."""

    kind: SectionKind
    title: str
    line: int
    items: tuple[SectionItem, ...]


@dataclass(frozen=True)
class Metadata:
    """Who and what: front matter plus the header blockquote (``> 作成者: @alice``)."""

    id: str
    title: str
    lang: str
    timeout: float | None = None
    header: tuple[tuple[str, str], ...] = ()
    extra: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Runbook:
    """A parsed runbook: metadata, parameters and sections in document order."""

    path: str
    source_sha256: str
    meta: Metadata
    parameters: tuple[Parameter, ...]
    sections: tuple[Section, ...]
    title_markdown: Markdown | None = None
    body_start: int = 1
    source_lines: tuple[str, ...] = field(default=(), repr=False)
    no_command: tuple[tuple[int, str], ...] = ()
    """(line, language) of shell-language fences with no command: kept as documentation."""

    def steps(self) -> list[Step]:
        """Every step in document order."""
        return [i for s in self.sections for i in s.items if isinstance(i, Step)]

    def shell_blocks(self) -> list[ShellBlock]:
        """Every shell block (= step cell) in document order."""
        return [b for step in self.steps() for b in step.shell_blocks]

    def checklists(self) -> list[Checklist]:
        """Every checklist in document order, steps' verification lists included."""
        found: list[Checklist] = []
        for section in self.sections:
            for item in section.items:
                if isinstance(item, Checklist):
                    found.append(item)
                elif isinstance(item, Step):
                    found.extend(i for i in item.items if isinstance(i, Checklist))
        return found

    def section(self, kind: SectionKind) -> Section | None:
        """The first section of a kind, if the runbook has one."""
        return next((s for s in self.sections if s.kind == kind), None)

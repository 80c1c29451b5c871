"""``runbook convert``: many sources in, notebooks out, all or nothing.

Every source is parsed and built before anything is written, so one broken
runbook never leaves a half-converted set of notebooks behind.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParseError, RunbookError
from ..markdown.parse import parse_file

MARKDOWN_SUFFIXES = (".md", ".markdown")


@dataclass(frozen=True)
class Conversion:
    """One source and the notebook text it produces."""

    source: Path
    target: Path
    text: str


def find_sources(patterns: list[str]) -> list[Path]:
    """Expand files, directories (their Markdown files, recursively) and globs."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES and p.is_file()
            )
            if not matches:
                raise RunbookError("directory contains no Markdown runbooks (*.md)", path=pattern)
            found.extend(matches)
        elif path.exists():
            found.append(path)
        else:
            matches = sorted(
                Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file()
            )
            if not matches:
                raise RunbookError("no such file, directory or matching glob", path=pattern)
            found.extend(matches)
    return list(dict.fromkeys(found))


def plan(sources: list[Path], out: Path | None) -> list[Conversion]:
    """Parse and build every source; raise the first error before writing anything."""
    single_file_out = out is not None and out.suffix == ".ipynb"
    if single_file_out and len(sources) > 1:
        raise RunbookError(
            "-o names one notebook but several sources were given; pass a directory", path=str(out)
        )
    conversions = []
    for source in sources:
        if source.suffix.lower() == ".ipynb":  # read as Markdown, it would be written over
            raise RunbookError("is a notebook; convert reads Markdown runbooks", path=str(source))
        runbook = parse_file(source)
        # Imported here, after parsing: nbformat takes seconds to import; bad input needs none.
        from .build import build_notebook, notebook_text

        nb = build_notebook(runbook, source_name=_shown(source))
        if single_file_out and out is not None:
            target = out
        else:
            target = (out or source.parent) / (source.name.rsplit(".", 1)[0] + ".ipynb")
        if target.exists() and target.samefile(source):
            raise RunbookError("the notebook would be written over its source", path=str(source))
        if target.exists() and not is_converted_notebook(target):
            raise RunbookError(
                "exists and is not a notebook converted from a runbook (no metadata.runbook); "
                f"move it away or convert {source} elsewhere with -o",
                path=str(target),
            )
        conversions.append(Conversion(source, target, notebook_text(nb)))
    return _one_source_per_target(conversions)


def is_converted_notebook(path: Path) -> bool:
    """Whether ``path`` is a notebook this converter wrote (JSON with ``metadata.runbook``).

    Anything else there (a hand-made analysis notebook with its outputs, a directory) is
    someone's work: converting a directory replaced it silently.
    """
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    metadata = data.get("metadata") if isinstance(data, dict) else None
    return isinstance(metadata, dict) and isinstance(metadata.get("runbook"), dict)


def _one_source_per_target(conversions: list[Conversion]) -> list[Conversion]:
    """Refuse two sources that would write one notebook (``a/deploy.md``, ``b/deploy.md``
    into one ``-o`` directory): the second overwrote the first, and ``--check`` then
    called one of them stale forever."""
    first: dict[str, Path] = {}
    for conversion in conversions:
        key = os.path.abspath(conversion.target)
        if key in first:
            raise RunbookError(
                f"would be converted to {conversion.target}, as {first[key]} is; "
                "convert them into separate -o directories",
                path=str(conversion.source),
            )
        first[key] = conversion.source
    return conversions


def plan_all(sources: list[Path], out: Path | None) -> tuple[list[Conversion], list[ParseError]]:
    """Like :func:`plan`, but collect every source's error so all are reported at once."""
    conversions, errors = [], []
    for source in sources:
        try:
            conversions.extend(plan([source], out))
        except ParseError as exc:
            errors.append(exc)
    return _one_source_per_target(conversions), errors


def write_all(conversions: list[Conversion]) -> None:
    """Write every notebook (each atomically; the text was validated by :func:`plan`)."""
    from .build import write_text

    for conversion in conversions:
        write_text(conversion.text, conversion.target)


def stale(conversions: list[Conversion]) -> list[Path]:
    """Notebooks that are missing or differ from what their source produces now."""
    return [c.target for c in conversions if _bytes(c.target) != c.text.encode("utf-8")]


def _bytes(path: Path) -> bytes | None:
    """A target's bytes, compared as bytes: one that is not UTF-8 is stale, not a crash."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def stale_sibling(source: Path) -> str | None:
    """A one-line warning when ``x.ipynb`` next to ``x.md`` was converted from another text.

    Either way round: running ``x.md`` while a stale ``x.ipynb`` lies next to it (someone
    may open that one), or running a stale ``x.ipynb`` whose Markdown has changed. The
    source hash in the notebook's metadata is compared with the Markdown's text.
    """
    stem = source.name.rsplit(".", 1)[0]
    if source.suffix.lower() == ".ipynb":
        notebook = source
        markdown = next(
            (
                source.with_name(stem + s)
                for s in MARKDOWN_SUFFIXES
                if source.with_name(stem + s).is_file()
            ),
            None,
        )
    else:
        notebook, markdown = source.with_name(stem + ".ipynb"), source
    if markdown is None or not notebook.is_file():
        return None
    try:
        recorded = json.loads(notebook.read_bytes())["metadata"]["runbook"]["source_sha256"]
        text = markdown.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if hashlib.sha256(text.encode("utf-8")).hexdigest() == recorded:
        return None
    return (
        f"warning: {notebook} is stale: {markdown} changed since it was converted; "
        f"check with: runbook convert {markdown} --check"
    )


def _shown(path: Path) -> str:
    """The source path recorded in the notebook: relative when possible, for determinism."""
    try:
        return Path(os.path.relpath(path.resolve(), Path.cwd())).as_posix()
    except ValueError:
        return path.as_posix()

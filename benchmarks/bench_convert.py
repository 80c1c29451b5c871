"""Benchmark conversion: our converter against jupytext, Markdown runbooks to notebooks.

Sources: ``templates/*.md`` and every ``*.md`` of ``/work/shared/corpus/public``
(skipped when absent; its ``SOURCES.md`` is the corpus index, not a runbook).
Measured side by side, in one run:

* ours in-process: ``converter.markdown.parse.parse_text``
  + ``converter.notebook.build.build_notebook``
  + ``notebook_text`` (the exact ``.ipynb`` text), per source;
* jupytext in-process, the equivalent of ``jupytext --to ipynb``:
  ``jupytext.reads(text, fmt="md")`` + ``nbformat.writes``;
* both command lines as one subprocess over all sources: ``runbook convert … -o DIR``
  and ``jupytext --to ipynb …`` (interpreter start-up included);

plus how many shell cells each produces (jupytext turns every recognised fence into
a code cell; ours turns only shell fences into ``%%step`` cells).

Needs the ``bench`` extra: ``pip install -e '.[bench]'``.
Usage: ``python benchmarks/bench_convert.py [--repeat 5] [--no-write]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, busy_note, load, machine, median_s, stamp, table, write_sections

from converter.errors import ParseError
from converter.markdown.blocks import SHELL_LANGUAGES, is_shell_fence, markdown_parser, parse_info
from converter.markdown.parse import parse_text
from converter.notebook.build import build_notebook, notebook_text

CORPUS = Path("/work/shared/corpus/public")
SEED = Path("/work/shared/seed/runbook-template.ja.md")


def sources() -> list[Path]:
    found = sorted((REPO / "templates").glob("*.md"))
    if CORPUS.is_dir():
        found += sorted(p for p in CORPUS.glob("*.md") if p.name != "SOURCES.md")
    return found


def ours(text: str, name: str) -> nbformat.NotebookNode | None:
    """Our notebook, or None when the converter rejects the source (a ParseError)."""
    try:
        nb = build_notebook(parse_text(text, path=name), source_name=name)
    except ParseError:
        return None
    notebook_text(nb)
    return nb


def theirs(text: str) -> nbformat.NotebookNode:
    import jupytext

    nb = jupytext.reads(text, fmt="md")
    nbformat.writes(nb)
    return nb


def shell_fences(text: str) -> int:
    """Fenced blocks whose info string names a shell, as markdown-it-py sees them."""
    tokens = markdown_parser().parse(text)
    return sum(1 for t in tokens if t.type == "fence" and is_shell_fence(parse_info(t.info)[0]))


def our_shell_cells(nb: nbformat.NotebookNode | None) -> int:
    return (
        0
        if nb is None
        else sum(c.cell_type == "code" and c.source.startswith("%%step") for c in nb.cells)
    )


def their_shell_cells(nb: nbformat.NotebookNode) -> tuple[int, int]:
    """(code cells, shell code cells).

    A cell is in the notebook's main language unless a %%magic says otherwise.
    """
    main = nb.metadata.get("jupytext", {}).get("main_language", "python")
    code = [c for c in nb.cells if c.cell_type == "code"]
    langs = [c.source[2:].split(None, 1)[0] if c.source.startswith("%%") else main for c in code]
    return len(code), sum(lang in SHELL_LANGUAGES for lang in langs)


def cli(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[:4])} … exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )


def section(args: argparse.Namespace) -> str:
    """Convert every source with both tools and print the tables.

    Returns this script's Markdown section.
    """
    import jupytext

    paths = sources()
    texts = {p: p.read_text(encoding="utf-8") for p in paths}
    load_before = load()
    print(f"  converting {len(paths)} sources ...", file=sys.stderr)
    built = {p: ours(t, p.name) for p, t in texts.items()}
    accepted = [p for p in paths if built[p] is not None]
    rejected = [p for p in paths if built[p] is None]
    jt = {p: theirs(t) for p, t in texts.items()}
    ours_s = median_s(lambda: [ours(t, p.name) for p, t in texts.items()], args.repeat)
    theirs_s = median_s(lambda: [theirs(t) for t in texts.values()], args.repeat)

    work = Path(tempfile.mkdtemp(prefix="runbook-bench-convert-"))
    copies = work / "jupytext"
    copies.mkdir()
    for p in accepted:
        shutil.copy(p, copies / p.name)
    cli_repeat = max(1, min(args.repeat, 3))
    ours_cli_s = median_s(
        lambda: cli(["-m", "converter", "convert", *map(str, accepted), "-o", str(work / "ours")]),
        cli_repeat,
    )
    theirs_cli_s = median_s(
        lambda: cli(
            [
                "-m",
                "jupytext",
                "--quiet",
                "--to",
                "ipynb",
                *(str(copies / p.name) for p in accepted),
            ]
        ),
        cli_repeat,
    )
    assert len(list((work / "ours").glob("*.ipynb"))) == len(accepted)
    startup_s = median_s(lambda: cli(["-c", "import nbformat"]), cli_repeat)
    shutil.rmtree(work, ignore_errors=True)
    load_after = load()

    n, k = len(paths), len(accepted)
    rate = lambda files, seconds: f"{files / seconds:,.0f} files/s"
    speed = table(
        ("Conversion", "Sources", "Total", "Throughput"),
        [
            (
                "ours in-process: `parse_text` + `build_notebook` + `notebook_text`",
                str(n),
                f"{ours_s * 1000:.1f} ms",
                rate(n, ours_s),
            ),
            (
                "jupytext in-process: `jupytext.reads(fmt='md')` + `nbformat.writes`",
                str(n),
                f"{theirs_s * 1000:.1f} ms",
                rate(n, theirs_s),
            ),
            (
                "`runbook convert … -o DIR` (one subprocess)",
                str(k),
                f"{ours_cli_s * 1000:.0f} ms",
                rate(k, ours_cli_s),
            ),
            (
                "`jupytext --to ipynb …` (one subprocess)",
                str(k),
                f"{theirs_cli_s * 1000:.0f} ms",
                rate(k, theirs_cli_s),
            ),
            (
                "(both pay) interpreter start-up + `import nbformat`",
                "—",
                f"{startup_s * 1000:.0f} ms",
                "—",
            ),
        ],
    )
    seed = SEED if SEED.exists() else REPO / "templates" / "runbook-template.ja.md"
    seed_nb = built.get(seed) or ours(seed.read_text(encoding="utf-8"), seed.name)
    seed_jt = theirs(seed.read_text(encoding="utf-8"))
    corpus_ours = sum(our_shell_cells(built[p]) for p in paths)
    corpus_code = sum(their_shell_cells(jt[p])[0] for p in paths)
    corpus_shell = sum(their_shell_cells(jt[p])[1] for p in paths)
    cells = table(
        (
            "Source",
            "Shell fences (markdown-it-py)",
            "Ours: `%%step` cells",
            "jupytext: code cells",
            "jupytext: shell code cells",
        ),
        [
            (
                f"the seed (`{seed.name}`)",
                str(shell_fences(seed.read_text(encoding="utf-8"))),
                str(our_shell_cells(seed_nb)),
                *map(str, their_shell_cells(seed_jt)),
            ),
            (
                f"all {n} sources",
                str(sum(shell_fences(t) for t in texts.values())),
                str(corpus_ours),
                str(corpus_code),
                str(corpus_shell),
            ),
        ],
    )
    print(speed, cells, sep="\n\n")
    refused = ", ".join(f"`{p.name}`" for p in rejected) or "none"
    return f"""## Conversion: our converter and jupytext

Generated by `python benchmarks/bench_convert.py --repeat {args.repeat}` on {stamp()}.

- Machine: {machine()}; load average {load_before} before, {load_after} \
after{busy_note(load_before)};
  jupytext {jupytext.__version__}, nbformat {nbformat.__version__}.
- Sources: {n} Markdown files, \
{sum(len(t.encode()) for t in texts.values()) / 1024:,.0f} KiB in all:
  `templates/*.md` and the public corpus \
(`/work/shared/corpus/public/*.md`, real runbooks from GitHub).
  Our converter refuses {len(rejected)} of them with a located error ({refused}); \
in-process rows still time that
  attempt, and the command-line rows convert the {k} it accepts \
(`runbook convert` is all or nothing).
- Method: texts read once beforehand; in-process rows are the median of \
{args.repeat} passes over every source,
  subprocess rows the median of {cli_repeat} (interpreter start-up and imports included).

{speed}

What differs: jupytext maps Markdown to cells one to one and makes a code cell \
only of a top-level ```` ``` ````
fence in a language it knows as a kernel's (`bash`, `sh`, `python`, …; \
non-shell ones become code cells too);
`~~~` fences, fences indented in lists and `shell`, `zsh` or `console` fences \
stay Markdown, which is why it
finds far fewer shell cells in the corpus. Ours builds a runbook notebook: every \
shell fence (`~~~`, nested and
`console` included) becomes a `%%step` cell with its step id, plus the parameters, setup, checklist,
expected-result and finish cells and `metadata.runbook`, all validated, \
so it does more work per file.

{cells}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=5, help="passes per measurement; the median is reported"
    )
    parser.add_argument("--no-write", action="store_true", help="print the tables only")
    args = parser.parse_args(argv)
    text = section(args)
    if not args.no_write:
        write_sections({"convert": text}, command=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

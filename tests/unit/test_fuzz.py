"""Fuzzing ``runbook convert`` and ``runbook lint`` with hypothesis (issue 11).

Documents are assembled from random structure: headings, prose, shell and other
fences (console sessions and scripts, comments, prompts, output, attributes), bulleted
and numbered task lists holding fences, front matter (parameters, aliases, junk),
random Unicode, CRLF line ends, NUL bytes and invalid UTF-8. Both commands run in this
process through ``converter.cli.main`` (click, as the ``runbook`` entry point runs it).

Whatever the input: no traceback, exit codes 0/1/2 only, never a partial notebook,
every notebook valid against the nbformat schema, and no step cell holds a command
line that was prose or a comment in the source. Prose and comments carry markers
(``PROSE7``, ``COMMENT3``) so the last property is a plain text check.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import nbformat
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from converter.cli import main

FENCE = "```"
SAFE_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="`~\\#$%>*_[]{}|<!-"
    ),
    max_size=12,
)
WORD = st.sampled_from(["alpha", "運用", "données", "🚀", "x", "Step", "確認", "Verify"])


@st.composite
def prose(draw, n: int) -> str:
    return f"{draw(WORD)} PROSE{n} {draw(SAFE_TEXT)}".strip()


@st.composite
def fence(draw, n: int) -> str:
    language = draw(st.sampled_from(["bash", "sh", "console", "zsh", "shell", "text", "", "Bash"]))
    attrs = draw(
        st.sampled_from(
            ["", " {timeout=5}", " {name=blk" + str(n) + "}", " {timeout=nan}", " {manual=true}"]
        )
    )
    lines = []
    for k in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["cmd", "comment", "prompt", "output", "blank", "cont"]))
        lines.append(
            {
                "cmd": f"echo CMD{n}_{k}",
                "comment": f"# COMMENT{n}_{k} {draw(SAFE_TEXT)}",
                "prompt": f"$ echo CMD{n}_{k}",
                "output": f"output {k}",
                "blank": "",
                "cont": f"$ echo CMD{n}_{k} \\",
            }[kind]
        )
    return f"{FENCE}{language}{attrs}\n" + "".join(line + "\n" for line in lines) + FENCE


@st.composite
def task_list(draw, n: int) -> str:
    numbered = draw(st.booleans())
    items = []
    for k in range(draw(st.integers(1, 3))):
        marker = f"{k + 1}." if numbered else "-"
        box = draw(st.sampled_from(["[ ]", "[x]", "[X]"]))
        items.append(f"{marker} {box} {draw(prose(n * 10 + k))}")
        if draw(st.booleans()):
            indent = " " * (len(marker) + 1)
            body = draw(fence(n * 10 + k))
            items.append("\n".join(indent + line for line in body.splitlines()))
    return "\n".join(items)


@st.composite
def block(draw, n: int) -> str:
    kind = draw(st.sampled_from(["heading", "prose", "fence", "tasks", "label", "quote"]))
    if kind == "heading":
        level = draw(st.integers(1, 4))
        title = draw(
            st.sampled_from(["Procedure", "手順", "Rollback", "Prerequisites", "Troubleshooting"])
        )
        number = draw(st.sampled_from(["", "1-1. ", f"{n}-{n}. ", "Step 1: ", "問題1: "]))
        return "#" * level + f" {number}{title} PROSE{n}"
    if kind == "prose":
        return draw(prose(n))
    if kind == "fence":
        return draw(fence(n))
    if kind == "tasks":
        return draw(task_list(n))
    if kind == "label":
        return draw(st.sampled_from(["**Verify**:", "**期待される結果**:", "**Expected result**:"]))
    return f"> PROSE{n} Author: @alice"


FRONT_MATTER = st.sampled_from(
    [
        "",
        "---\nid: fuzz\n---\n",
        "---\ntitle: T\nlang: en\ntimeout: 30\n---\n",
        "---\nparameters:\n  host:\n    type: str\n    default: db1\n---\n",
        '---\nparameters:\n  n: {type: int, default: "x"}\n---\n',
        '---\nparameters:\n  t: {secret: true, required: "no"}\n---\n',
        "---\nparameters:\n  f: {type: float, default: .nan}\n---\n",
        "---\na: &a [1, 2]\nb: [*a, *a]\n---\n",
        "---\nparameters: [1, 2\n---\n",
        "---\n- just\n- a list\n---\n",
        "---\ntimeout: -1\n---\n",
        "---\nid: 運用\n---\n",
    ]
)


@st.composite
def document(draw) -> bytes:
    parts = [draw(block(n)) for n in range(draw(st.integers(0, 12)))]
    text = draw(FRONT_MATTER) + "\n\n".join(parts) + "\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    damage = draw(st.sampled_from(["none", "none", "nul", "invalid-utf8", "bom", "truncate"]))
    if damage == "nul" and data:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\0" + data[at:]
    elif damage == "invalid-utf8":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff\xfe" + data[at:]
    elif damage == "bom":
        data = b"\xef\xbb\xbf" + data
    elif damage == "truncate" and data:
        data = data[: draw(st.integers(0, len(data)))]
    return data


def run_main(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue()


def step_commands(notebook: nbformat.NotebookNode) -> list[str]:
    lines = []
    for cell in notebook.cells:
        if cell.metadata.get("runbook", {}).get("role") == "step":
            lines += cell.source.splitlines()[1:]  # after the %%step line
    return lines


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(document())
def test_convert_and_lint_never_crash_and_never_run_prose(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source, good, out = Path(tmp, "fuzz.md"), Path(tmp, "good.md"), Path(tmp, "out")
        source.write_bytes(data)
        good.write_text(f"# Good\n\n{FENCE}bash\necho ok\n{FENCE}\n", encoding="utf-8")
        code, stdout, stderr = run_main(["convert", str(source), str(good), "-o", str(out)])
        event(f"convert exit {code}")
        assert code in (0, 2), (code, stderr)
        assert "Traceback" not in stdout + stderr
        written = sorted(p.name for p in out.iterdir()) if out.exists() else []
        if code == 2:
            assert written == [], "convert is all or nothing: no partial notebook"
            assert stderr.strip().startswith(str(source)), stderr
        else:
            assert written == ["fuzz.ipynb", "good.ipynb"], written
            notebook = nbformat.read(out / "fuzz.ipynb", as_version=4)
            nbformat.validate(notebook)
            for line in step_commands(notebook):
                assert "PROSE" not in line, line
                assert "COMMENT" not in line or line.lstrip().startswith("#"), line
        previous = os.environ.get("RUNBOOK_SHELLCHECK")
        os.environ["RUNBOOK_SHELLCHECK"] = "no-such-shellcheck"  # our code, not shellcheck's
        try:
            code, stdout, stderr = run_main(["lint", str(source)])
        finally:
            if previous is None:
                del os.environ["RUNBOOK_SHELLCHECK"]
            else:
                os.environ["RUNBOOK_SHELLCHECK"] = previous
        assert code in (0, 1, 2), (code, stderr)
        assert "Traceback" not in stdout + stderr

"""Issue 11 (input hardening), the parts that need no kernel: exit codes, bounds, speed."""

from __future__ import annotations

import cProfile
import pstats

import nbformat
import pytest
from click.testing import CliRunner

from converter.cli import cli
from converter.markdown.parse import parse_file, parse_text
from converter.notebook.build import build_notebook, notebook_text

FENCE = "```"


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def alias_bomb(levels: int) -> str:
    text = (
        "---\nparameters:\n  x0:\n    type: list\n    default: &a0 [" + ", ".join("x" * 10) + "]\n"
    )
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        text += f"  x{i}:\n    type: list\n    default: &a{i} [{refs}]\n"
    return text + f"---\n\n# T\n\n{FENCE}bash\necho\n{FENCE}\n"


@pytest.mark.parametrize(
    "source",
    [
        f"# T\n\n{FENCE}bash {{timeout=nan}}\necho\n{FENCE}\n",
        "---\ntimeout: .inf\n---\n\n# T\n",
        "---\nparameters:\n  r: {type: float, default: .nan}\n---\n\n# T\n",
        '---\nparameters:\n  t: {secret: "false"}\n---\n\n# T\n',
        alias_bomb(6),
    ],
    ids=["fence-timeout", "front-timeout", "float-default", "quoted-bool", "alias-bomb"],
)
def test_values_that_can_never_run_are_path_line_errors_in_convert_and_lint(tmp_path, source):
    path = tmp_path / "bad.md"
    path.write_text(source, encoding="utf-8")
    code, output = run_cli("convert", str(path), "-o", str(tmp_path / "out"))
    assert code == 2
    assert output.startswith(f"{path}:") and "Traceback" not in output
    assert not (tmp_path / "out").exists(), "nothing written for bad input"
    code, output = run_cli("lint", str(path))
    assert code == 2 and "[parse-error]" in output


def test_run_timeout_must_be_finite(tmp_path):
    path = tmp_path / "ok.md"
    path.write_text(f"# T\n\n{FENCE}bash\necho\n{FENCE}\n", encoding="utf-8")
    for value in ("nan", "inf"):
        code, output = run_cli("run", str(path), "--timeout", value, "--records", str(tmp_path))
        assert code == 2 and "finite" in output
    assert list(tmp_path.iterdir()) == [path], "no record for bad input"


def test_alias_amplification_is_refused_before_it_expands():
    """8 levels would expand to 10**9 items: refused, so this returns at all."""
    for levels in (6, 8):
        with pytest.raises(Exception, match="YAML aliases expand"):
            parse_text(alias_bomb(levels), path="bomb.md")


def _steps(count: int) -> str:
    lines = ["# Big", "", "## Procedure", ""]
    for i in range(1, count + 1):
        lines += [f"#### 1-{i}. Step {i}", "", f"{FENCE}bash", f"echo step {i} $v{i}", FENCE, ""]
    return "\n".join(lines)


def _convert_and_lint_calls(count: int, monkeypatch) -> int:
    """Python function calls made converting and linting ``count`` steps (deterministic)."""
    from converter.lint.checks import lint_runbook

    monkeypatch.setenv("RUNBOOK_SHELLCHECK", "no-such-shellcheck")  # measure our code only
    text = _steps(count)
    profile = cProfile.Profile()
    profile.enable()
    runbook = parse_text(text, path="big.md")
    notebook_text(build_notebook(runbook))
    lint_runbook(runbook)
    profile.disable()
    return pstats.Stats(profile).total_calls  # type: ignore[attr-defined]


def test_convert_and_lint_are_linear_in_the_number_of_steps(monkeypatch):
    """4x the steps make at most ~4x the calls (a quadratic pass makes 16x): no clock involved.

    10,000 steps once took minutes; docs/BENCHMARKS.md has the times.
    """
    _convert_and_lint_calls(50, monkeypatch)  # first-use caches (parser, templates) out of the way
    small = _convert_and_lint_calls(500, monkeypatch)
    large = _convert_and_lint_calls(2000, monkeypatch)
    assert large < 4.5 * small, (small, large)


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("運用手順.md", "runbook-"), ("db移行.ja.md", "db-"), ("手順 v2.md", "v2-")],
)
def test_a_non_ascii_file_name_gets_a_usable_id(name, prefix):
    from converter.records.manifest import sanitize_runbook_id

    runbook = parse_text(f"# T\n\n{FENCE}bash\necho\n{FENCE}\n", path=name)
    assert runbook.meta.id.startswith(prefix) and len(runbook.meta.id) == len(prefix) + 8
    assert sanitize_runbook_id(runbook.meta.id) == runbook.meta.id  # its own directory name
    assert parse_text(f"# T\n\n{FENCE}bash\necho\n{FENCE}\n", path=name).meta.id == runbook.meta.id


def test_ascii_file_names_keep_their_id():
    assert parse_text("# T\n", path="db-migrate.ja.md").meta.id == "db-migrate"


def test_a_stale_notebook_next_to_its_markdown_is_reported(tmp_path):
    from converter.notebook.convert import plan, stale_sibling, write_all

    source = tmp_path / "x.md"
    source.write_text(f"# T\n\n{FENCE}bash\necho 1\n{FENCE}\n", encoding="utf-8")
    assert stale_sibling(source) is None  # no notebook at all
    write_all(plan([source], None))
    assert stale_sibling(source) is None and stale_sibling(tmp_path / "x.ipynb") is None
    source.write_text(f"# T\n\n{FENCE}bash\necho 2\n{FENCE}\n", encoding="utf-8")
    for given in (source, tmp_path / "x.ipynb"):
        warning = stale_sibling(given)
        assert warning is not None and len(warning.splitlines()) == 1
        assert "stale" in warning and "convert" in warning and "--check" in warning


def test_a_repeated_prerequisites_heading_shows_its_checklist_once(tmp_path):
    """Found by the fuzz test: a list under a second Prerequisites heading was built twice."""
    source = tmp_path / "twice.md"
    source.write_text("### Prerequisites\n\n### Prerequisites\n\n- [ ] alpha\n", encoding="utf-8")
    code, output = run_cli("convert", str(source), "-o", str(tmp_path / "out"))
    assert code == 0, output
    notebook = nbformat.read(tmp_path / "out" / "twice.ipynb", as_version=4)
    lists = [c for c in notebook.cells if c.metadata["runbook"]["role"] == "checklist"]
    assert len(lists) == 1 and "alpha" in lists[0].source


def test_a_nul_byte_is_a_path_line_error_not_a_command(tmp_path):
    """Markdown turns NUL into U+FFFD: ``\\0# comment`` would have become a command."""
    source = tmp_path / "nul.md"
    source.write_bytes(f"# T\n\n{FENCE}console\n$ echo hi\n\0# COMMENT\n{FENCE}\n".encode())
    for args in (["convert", str(source), "-o", str(tmp_path / "out")], ["lint", str(source)]):
        code, output = run_cli(*args)
        assert code == 2, output
        assert f"{source}:5:" in output and "NUL byte" in output
    assert not (tmp_path / "out").exists()


def test_parameters_too_large_together_are_refused_naming_the_largest():
    """Each under 128 KiB, together over what leaves room to start a step (E2BIG)."""
    from converter.errors import ParameterError
    from converter.model import Parameter
    from converter.parameters import resolve

    declared = [Parameter(name=f"p{i}", type="str") for i in range(20)]
    given = {f"p{i}": "x" * (100_000 + i) for i in range(20)}
    with pytest.raises(ParameterError) as caught:
        resolve(declared, given, strict=True, environ={})
    assert "1 MiB" in str(caught.value) and "'p19' (100024 bytes)" in str(caught.value)
    resolve(declared[:10], {k: given[k] for k in list(given)[:10]}, strict=True, environ={})


@pytest.mark.parametrize("command", [["records", "list"], ["run", "x.md"], ["records", "verify"]])
def test_an_empty_records_option_is_refused_not_taken_for_the_default(tmp_path, command):
    """``--records "$UNSET_VAR"`` must not quietly write to or read ./records."""
    result = CliRunner().invoke(cli, [*command, "--records", ""])
    assert result.exit_code == 2 and "is empty" in result.output, result.output


DUPLICATE_FRONT = (
    "---\nparameters:\n  token:\n    secret: true\n  token:\n    default: abc\n---\n\n# T\n"
)


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("runbook.md", DUPLICATE_FRONT, "runbook.md:5: duplicate key 'token'"),
        (
            "params.yaml",
            "region: eu\nport: 1\nregion: us\n",
            "params.yaml:3: duplicate key 'region'",
        ),
        (
            "t.yaml",
            "- target: db1\n  region: eu\n  region: us\n",
            "t.yaml:3: duplicate key 'region'",
        ),
    ],
)
def test_a_key_given_twice_is_refused_at_its_line(tmp_path, name, text, where):
    """PyYAML keeps the last of two equal keys: a parameter declared twice lost its
    ``secret: true`` and its value was written into the notebook."""
    from converter.errors import ParseError
    from converter.fleet import read_targets
    from converter.parameters import load_parameters_file

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    read = {"runbook.md": parse_file, "params.yaml": load_parameters_file}
    with pytest.raises(ParseError) as caught:
        read.get(name, read_targets)(path)
    assert str(caught.value).startswith(f"{tmp_path}/{where}")


def test_a_duplicate_front_matter_key_writes_nothing(tmp_path):
    path = tmp_path / "dup.md"
    path.write_text(DUPLICATE_FRONT, encoding="utf-8")
    code, output = run_cli("convert", str(path), "-o", str(tmp_path / "out"))
    assert code == 2 and output.startswith(f"{path}:5: duplicate key 'token'")
    assert not (tmp_path / "out").exists()


def test_a_merged_key_may_be_overridden():
    text = "---\nbase: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n---\n\n# T\n"
    assert dict(parse_text(text).meta.extra)["other"] == {"x": 3, "y": 2}


@pytest.mark.parametrize(
    ("front", "line", "message"),
    [
        ('title: "bad \\ud800 title"\n', 2, "a lone surrogate (\\ud800) is not text"),
        ('parameters:\n  x: {default: a, description: "a\\0b"}\n', 3, "a NUL character"),
        ("parameters:\n  hosts:\n    type: list\n    default: [a, .nan]\n", 5, "'default': .nan"),
        ("parameters:\n  hosts: {type: list, default: [a, -.inf]}\n", 3, "-.inf is not a"),
        ("weight: 1.0e+999\n", 2, "1.0e+999 is not a finite number"),
    ],
    ids=["surrogate", "nul", "nan-in-list", "inf-in-list", "overflow"],
)
def test_front_matter_values_no_notebook_can_hold_are_path_line_errors(
    tmp_path, front, line, message
):
    """They gave a traceback and an empty .tmp file (surrogate), or a notebook whose every
    run failed (NUL in its Python), or ``nan`` written into its code."""
    path = tmp_path / "bad.md"
    path.write_text(f"---\n{front}---\n\n# T\n\n{FENCE}bash\necho\n{FENCE}\n", encoding="utf-8")
    code, output = run_cli("convert", str(path), "-o", str(tmp_path / "out"))
    assert code == 2 and "Traceback" not in output
    assert output.startswith(f"{path}:{line}: YAML front matter: ") and message in output
    assert not (tmp_path / "out").exists()


def test_front_matter_keys_1_and_quoted_1_both_convert():
    """They are two keys (an int and a str): sorting them by (text, value) raised TypeError."""
    text = f'---\n1: a\n"1": [b]\n---\n\n# T\n\n{FENCE}bash\necho\n{FENCE}\n'
    assert parse_text(text).meta.extra == (("1", "a"), ("1", ["b"]))


@pytest.mark.parametrize("value", ["[" * 100_000 + "]" * 100_000, "[" * 500 + "]" * 500, "[[1]]"])
def test_a_nested_list_value_is_a_parameter_error(value):
    """A list nested thousands deep overflowed Python's stack (RecursionError traceback)."""
    from converter.errors import ParameterError
    from converter.model import Parameter
    from converter.parameters import resolve

    hosts = Parameter(name="hosts", type="list", default=["a"])
    with pytest.raises(ParameterError, match="parameter 'hosts' expects a list") as caught:
        resolve((hosts,), {"hosts": value}, from_text=frozenset({"hosts"}), strict=True)
    assert len(str(caught.value)) < 400


def test_json_nan_in_a_list_value_is_a_parameter_error():
    from converter.errors import ParameterError
    from converter.model import Parameter
    from converter.parameters import resolve

    hosts = Parameter(name="hosts", type="list")
    with pytest.raises(ParameterError, match="expects a list"):
        resolve((hosts,), {"hosts": '["a", NaN]'}, from_text=frozenset({"hosts"}), strict=True)


@pytest.mark.parametrize("odd", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c"])
def test_characters_str_splitlines_breaks_at_are_not_line_breaks(odd):
    """Markdown breaks lines at \\n and \\r only; splitting at these too made the lines
    disagree with markdown-it's and a closed fence was 'never closed'."""
    text = f"# T\n\n## Procedure\n\nProse{odd}more.\n\n{FENCE}bash\necho a{odd}b\n{FENCE}\n"
    runbook = parse_text(text)
    (block,) = runbook.shell_blocks()
    assert (block.code, block.line) == (f"echo a{odd}b\n", 7)
    console = f"# T\n\n{FENCE}console\n$ echo a{odd}b\na{odd}b\n{FENCE}\n"
    assert parse_text(console).shell_blocks()[0].code == f"echo a{odd}b\n"

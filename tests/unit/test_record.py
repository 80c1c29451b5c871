"""Record directory, manifest, hash chain and offline HTML (DESIGN.md §6)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from converter.errors import RecordError
from converter.records.chain import ChainHead, finalize_record, read_chain_head
from converter.records.html import render_html
from converter.records.layout import CHAIN_HEAD
from converter.records.manifest import (
    RECORD_FORMAT,
    create_record_dir,
    hash_file,
    load_manifest,
    manifest_sha256,
    sanitize_runbook_id,
)

REPO = Path(__file__).resolve().parents[2]
JAPANESE = "データベースのフェイルオーバー手順"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _manifest(run_id: str, *, status: str = "succeeded") -> dict:
    return {
        "run_id": run_id,
        "runbook": {"id": "db-failover", "title": "DB failover", "source_sha256": "0" * 64},
        "status": status,
        "dry_run": False,
        "operator": "alice",
        "mode": "headless",
        "started_at": "2024-05-01T10:00:00Z",
        "finished_at": "2024-05-01T10:01:00Z",
        "parameters": {"host": "db1", "password": "***"},
        "steps": [
            {"id": "s1", "title": "Stop", "status": "succeeded", "exit_code": 0, "duration_s": 0.1}
        ],
        "checks": [{"id": "c1", "text": "done", "checked": True, "by": "alice", "at": None}],
    }


def _new_record(records: Path, runbook_id: str = "db-failover") -> tuple[Path, str]:
    run_dir, run_id = create_record_dir(records, runbook_id)
    (run_dir / "journal.jsonl").write_text('{"event": "start"}\n', encoding="utf-8")
    return run_dir, run_id


# --- create_record_dir ---------------------------------------------------------------


def test_create_record_dir_layout(tmp_path: Path) -> None:
    now = datetime(2024, 5, 1, 19, 2, 3, tzinfo=timezone(timedelta(hours=9)))
    run_dir, run_id = create_record_dir(tmp_path / "records", "db-failover", now=now)
    assert run_dir.is_dir()
    assert run_dir.parent == tmp_path / "records" / "db-failover"
    assert run_dir.name == run_id
    stamp, short = run_id.split("-")
    assert stamp == "20240501T100203Z"  # converted to UTC
    assert len(short) == 8 and int(short, 16) >= 0
    assert list(run_dir.iterdir()) == []  # the write probe is cleaned up


def test_create_record_dir_ids_are_unique(tmp_path: Path) -> None:
    now = datetime(2024, 5, 1, tzinfo=timezone.utc)
    ids = {create_record_dir(tmp_path, "rb", now=now)[1] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [
        ("../../etc", "etc-"),
        ("a/b c", "a-b-c-"),
        ("..", "runbook-"),
        ("運用", "runbook-"),
        ("ok_1.2", "ok_1.2"),
        ("db-migrate", "db-migrate"),
    ],
)
def test_runbook_id_is_one_safe_component(tmp_path: Path, raw: str, prefix: str) -> None:
    safe = sanitize_runbook_id(raw)
    if prefix.endswith("-"):  # changed by sanitising: a hash of the original is appended
        assert safe.startswith(prefix) and len(safe) == len(prefix) + 8
    else:
        assert safe == raw  # ASCII ids keep their directory (existing records)
    run_dir, _ = create_record_dir(tmp_path, raw)
    assert run_dir.parent.parent == tmp_path


def test_ids_that_sanitise_alike_do_not_share_a_directory() -> None:
    ids = ["a/b", "a b", "a-b", "a\\b", "a:b", "運用-a-b"]
    assert len({sanitize_runbook_id(i) for i in ids}) == len(ids)


def test_records_under_a_regular_file_is_a_record_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(RecordError) as info:
        create_record_dir(blocker / "records", "rb")
    assert "cannot create the record directory" in str(info.value)
    assert info.value.path == str(blocker / "records")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_records_is_a_record_error(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    records.chmod(0o500)
    try:
        with pytest.raises(RecordError):
            create_record_dir(records, "rb")
    finally:
        records.chmod(0o700)


# --- finalize_record -----------------------------------------------------------------


def test_finalize_hashes_every_file_and_writes_manifest_last(tmp_path: Path) -> None:
    run_dir, run_id = _new_record(tmp_path)
    (run_dir / "record.ipynb").write_bytes(b"{}")
    (run_dir / "record.html").write_text(f"<p>{JAPANESE}</p>", encoding="utf-8")
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "s1.log").write_bytes(b"step output\n")
    given = _manifest(run_id)

    sealed = finalize_record(run_dir, manifest=given)

    assert "files" not in given  # the caller's dict is not modified
    assert list(sealed["files"]) == ["journal.jsonl", "logs/s1.log", "record.html", "record.ipynb"]
    for name, sha in sealed["files"].items():
        assert sha == hash_file(run_dir / name)
    assert sealed["previous"] is None
    assert sealed["format"] == RECORD_FORMAT
    assert load_manifest(run_dir) == sealed
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "journal.jsonl",
        "logs",
        "manifest.json",
        "record.html",
        "record.ipynb",
    ]
    head = read_chain_head(tmp_path)
    assert head == ChainHead(
        sha256=manifest_sha256(run_dir), path=f"db-failover/{run_id}/manifest.json"
    )
    assert (tmp_path / CHAIN_HEAD).read_text(encoding="utf-8") == f"{head.sha256} {head.path}\n"


def test_manifest_keeps_japanese_as_utf8(tmp_path: Path) -> None:
    run_dir, run_id = _new_record(tmp_path)
    given = _manifest(run_id)
    given["runbook"]["title"] = JAPANESE
    finalize_record(run_dir, manifest=given)
    assert JAPANESE in (run_dir / "manifest.json").read_text(encoding="utf-8")


def test_chain_of_three_in_sequence(tmp_path: Path) -> None:
    shas = []
    previous = []
    for runbook_id in ("a", "b", "a"):  # all runbooks share one chain
        run_dir, run_id = _new_record(tmp_path, runbook_id)
        previous.append(finalize_record(run_dir, manifest=_manifest(run_id))["previous"])
        shas.append(manifest_sha256(run_dir))
    assert previous == [None, shas[0], shas[1]]
    assert read_chain_head(tmp_path).sha256 == shas[2]


def test_finalize_twice_is_refused(tmp_path: Path) -> None:
    run_dir, run_id = _new_record(tmp_path)
    finalize_record(run_dir, manifest=_manifest(run_id))
    with pytest.raises(RecordError, match="already finalized"):
        finalize_record(run_dir, manifest=_manifest(run_id))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("status", "ok", "status"), ("run_id", "other", "run_id")],
)
def test_finalize_rejects_inconsistent_manifest(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    run_dir, run_id = _new_record(tmp_path)
    bad = _manifest(run_id)
    bad[field] = value
    with pytest.raises(RecordError, match=message):
        finalize_record(run_dir, manifest=bad)
    assert not (run_dir / "manifest.json").exists()


def test_lost_chain_head_is_never_rebuilt_silently(tmp_path: Path) -> None:
    for _ in range(3):
        run_dir, run_id = _new_record(tmp_path)
        finalize_record(run_dir, manifest=_manifest(run_id))
    (tmp_path / CHAIN_HEAD).unlink()
    run_dir, run_id = _new_record(tmp_path)
    with pytest.raises(RecordError, match="runbook records repair"):
        finalize_record(run_dir, manifest=_manifest(run_id))
    assert not (run_dir / "manifest.json").exists()


def test_malformed_chain_head_is_an_error(tmp_path: Path) -> None:
    (tmp_path / CHAIN_HEAD).write_text("garbage\n", encoding="utf-8")
    run_dir, run_id = _new_record(tmp_path)
    with pytest.raises(RecordError, match="chain head is malformed"):
        finalize_record(run_dir, manifest=_manifest(run_id))


def test_load_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="missing"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(RecordError, match="cannot read manifest"):
        load_manifest(tmp_path)


_WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from converter.records.chain import finalize_record
    from converter.records.manifest import create_record_dir

    records, index, start_at = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    run_dir, run_id = create_record_dir(records, f"rb{index % 3}")
    (run_dir / "journal.jsonl").write_text(f"{index}\\n")
    time.sleep(max(0.0, start_at - time.time()))
    finalize_record(run_dir, manifest={"run_id": run_id, "status": "succeeded", "n": index})
    """
)


@pytest.mark.slow
def test_twenty_concurrent_finalizers_form_one_chain(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    start_at = time.time() + 3.0  # all workers finalize at the same moment
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path), str(i), str(start_at)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err

    run_dirs = [p.parent for p in tmp_path.glob("*/*/manifest.json")]
    assert len(run_dirs) == 20
    by_sha = {manifest_sha256(d): d for d in run_dirs}
    visited = []
    sha = read_chain_head(tmp_path).sha256
    while sha is not None:
        run_dir = by_sha[sha]
        assert run_dir not in visited
        visited.append(run_dir)
        sha = load_manifest(run_dir)["previous"]
    assert sorted(visited) == sorted(run_dirs)


# --- render_html ---------------------------------------------------------------------


class _Refs(HTMLParser):
    """Every script src and link href of a page, and all text outside scripts and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        for name, value in attrs:
            if name == wanted and value is not None:
                self.urls.append((tag, value))
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def _parse(page: str) -> _Refs:
    refs = _Refs()
    refs.feed(page)
    refs.close()
    return refs


def _assert_offline(page: str) -> _Refs:
    refs = _parse(page)
    remote = [
        (tag, url)
        for tag, url in refs.urls
        if url.strip().lower().startswith(("http:", "https:", "//"))
    ]
    assert remote == []
    return refs


@pytest.fixture(scope="module")
def executed_widget_notebook() -> nbformat.NotebookNode:
    """A notebook really executed by nbclient, so widget outputs and state are genuine."""
    nbclient = pytest.importorskip("nbclient")
    nb = new_notebook(
        cells=[
            new_markdown_cell(f"# {JAPANESE}\n\n手順を確認してください。 $x^2$"),
            new_code_cell('import ipywidgets as w\nw.Checkbox(value=True, description="done")'),
            new_code_cell(
                "from IPython.display import HTML, display\n"
                'display(HTML("<p>☑ done</p>"))\n'
                'print("ログ: 完了")'
            ),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    return nb


@pytest.mark.integration
def test_render_html_of_executed_widget_notebook_is_offline(
    executed_widget_notebook: nbformat.NotebookNode,
) -> None:
    nb = executed_widget_notebook
    assert WIDGET_VIEW in nb.cells[1].outputs[0]["data"]  # the fixture is what we think
    assert "widgets" in nb.metadata
    before = nbformat.writes(nb)

    page = render_html(nb, title=f"記録 {JAPANESE}")

    refs = _assert_offline(page)
    text = "".join(refs.text)
    assert JAPANESE in text
    assert "☑ done" in text
    assert "ログ: 完了" in text  # stream output
    assert f"<title>記録 {JAPANESE}</title>" in page
    # The widget's text/plain snapshot is not shown (the source code line is).
    assert "Checkbox(value=True, description='done')" not in text
    assert "unpkg" not in page and "require.js" not in page and "mathjax" not in page.lower()
    assert nbformat.writes(nb) == before  # input not modified
    assert render_html(nb, title=f"記録 {JAPANESE}") == page  # deterministic


def _hand_made_notebook() -> nbformat.NotebookNode:
    widget = new_output(
        "display_data",
        data={
            WIDGET_VIEW: {"model_id": "abc", "version_major": 2, "version_minor": 0},
            "text/plain": "Checkbox(value=False, description='done')",
        },
    )
    js = new_output(
        "display_data",
        data={"application/javascript": "alert(1)", "text/plain": "<Javascript object>"},
    )
    html = new_output("display_data", data={"text/html": "<p>☑ done</p>", "text/plain": "x"})
    stream = new_output("stream", name="stdout", text="出力\n")
    return new_notebook(
        cells=[
            new_markdown_cell(
                f"## {JAPANESE}\n\n"
                '<script src="https://evil.example/x.js"></script>\n'
                '<link rel="stylesheet" href="//cdn.example/a.css">\n'
                "<script>var s = '<script src=\"http://in-a-string\">';</script>\n"
            ),
            new_code_cell("x", outputs=[widget, js, html, stream]),
        ],
        metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}},
    )


def test_render_html_neutralises_remote_refs_and_widgets() -> None:
    nb = _hand_made_notebook()
    same = nbformat.reads(nbformat.writes(nb), as_version=4)
    page = render_html(nb, title="t")
    refs = _assert_offline(page)
    text = "".join(refs.text)
    assert JAPANESE in text and "☑ done" in text and "出力" in text
    assert "Checkbox(value=False" not in text
    assert 'data-offline-blocked-src="https://evil.example/x.js"' in page
    assert 'data-offline-blocked-href="//cdn.example/a.css"' in page
    assert "alert(1)" not in page  # javascript outputs are not rendered
    assert "widget-state+json" not in page and "widget-view+json" not in page
    assert render_html(same, title="t") == page  # deterministic for identical input


def test_every_step_id_has_a_log_of_its_own() -> None:
    """Step ids are unique; their log files must be too (x/y and x_y once shared one)."""
    from converter.records.layout import LOGS, log_name

    ids = ["1-1", "x/y", "x_y", "x%2Fy", "x y", "x\ny", "手順 1", "..", ".", "a.b", "a:b"]
    names = [log_name(i) for i in ids]
    assert len(set(names)) == len(ids), names
    for name in names:
        assert name.startswith(f"{LOGS}/") and "/" not in name[len(LOGS) + 1 :], name
        assert "\n" not in name

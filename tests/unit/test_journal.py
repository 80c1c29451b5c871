"""Journal: JSON lines with event/at/seq, masked, safe under concurrent appends and SIGKILL."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from converter.errors import RecordError
from converter.records.journal import Journal, read_journal, utc_now
from converter.records.mask import SecretMasker

REPO = Path(__file__).resolve().parents[2]
AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SECRET = "hunter2-Sup3r/Secret"


def child(script: str, *args: str) -> subprocess.Popen:
    """Start a Python child that can import the package from this checkout."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )


def test_utc_now_format():
    assert AT.match(utc_now())


def test_events_are_json_lines_with_event_at_seq(tmp_path):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        first = journal.write("run_started", runbook="db.md", params={"port": 5432})
        second = journal.write("step_finished", step=1, ok=True, output=None)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [first, second]
    assert list(first)[:3] == ["event", "at", "seq"]
    assert first["event"] == "run_started" and first["params"] == {"port": 5432}
    assert AT.match(first["at"]) and AT.match(second["at"])
    assert second["seq"] > first["seq"]
    assert read_journal(path) == [first, second]


def test_non_json_values_become_strings_and_reserved_names_rejected(tmp_path):
    with Journal(tmp_path / "j.jsonl") as journal:
        event = journal.write("e", path=Path("/tmp/x"), ratio=float("nan"), tags=("a", "b"))
        assert event["path"] == "/tmp/x" and event["ratio"] == "nan" and event["tags"] == ["a", "b"]
        with pytest.raises(ValueError):
            journal.write("e", seq=3)
    with pytest.raises(ValueError):
        journal.write("after close")


def test_masking_applies_to_nested_fields_and_keys(tmp_path):
    path = tmp_path / "journal.jsonl"
    b64 = base64.b64encode(f"admin:{SECRET}".encode()).decode()
    with Journal(path, masker=SecretMasker([SECRET])) as journal:
        event = journal.write(
            f"login {SECRET}",
            url=f"https://admin:{SECRET}@db.example",
            nested={"list": [SECRET, {"deep": f"Basic {b64}"}], SECRET: "key", "n": 3},
            tup=(SECRET, 1),
            obj=Path(f"/secrets/{SECRET}"),
        )
    raw = path.read_text(encoding="utf-8")
    assert SECRET not in raw and b64 not in raw
    assert event["event"] == "login ***"
    assert event["url"] == "https://admin:***@db.example"
    assert event["nested"]["list"][0] == "***"
    assert event["nested"]["***"] == "key" and event["nested"]["n"] == 3
    assert event["tup"] == ["***", 1] and event["obj"] == "/secrets/***"
    assert read_journal(path) == [event]


def test_non_ascii_is_written_verbatim(tmp_path):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.write("note", text="デプロイ完了")
    assert "デプロイ完了" in path.read_text(encoding="utf-8")


def test_bytes_that_are_not_utf8_are_escaped_and_read_back_the_same(tmp_path):
    """A shell value with invalid UTF-8 arrives as lone surrogates (os.fsdecode)."""
    path = tmp_path / "journal.jsonl"
    value = os.fsdecode(b"\xff\xfe bad \xe6\x97")
    with Journal(path) as journal:
        journal.write("step_end", cwd=value, exports={"D": value}, note="デプロイ")
        journal.write("note", text="デプロイ完了")
    text = path.read_bytes().decode("utf-8")  # still UTF-8 throughout
    assert "\\udcff" in text.splitlines()[0] and "デプロイ完了" in text.splitlines()[1]
    first = read_journal(path)[0]
    assert (first["cwd"], first["exports"], first["note"]) == (value, {"D": value}, "デプロイ")
    assert os.fsencode(first["cwd"]) == b"\xff\xfe bad \xe6\x97"


def test_two_processes_append_concurrently(tmp_path):
    path = tmp_path / "journal.jsonl"
    payload = "k" * 3000  # large lines make any interleaving visible
    proc = child(
        """
        import sys
        from pathlib import Path
        from converter.records.journal import Journal
        journal = Journal(Path(sys.argv[1]))
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(200):
            journal.write("child", i=i, payload=sys.argv[2])
        journal.close()
        """,
        str(path),
        payload,
    )
    assert proc.stdout.readline().strip() == "ready"
    journal = Journal(path)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    for i in range(200):
        journal.write("parent", i=i, payload=payload)
    journal.close()
    assert proc.wait(timeout=60) == 0
    proc.stdin.close()
    proc.stdout.close()

    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    events = [json.loads(line) for line in lines[:-1]]  # every line is valid JSON
    assert len(events) == 400
    for who in ("parent", "child"):
        mine = [e for e in events if e["event"] == who]
        assert [e["i"] for e in mine] == list(range(200))
        assert all(e["payload"] == payload for e in mine)
        seqs = [e["seq"] for e in mine]
        assert seqs == sorted(seqs) and len(set(seqs)) == 200
    assert read_journal(path) == events


def test_sigkill_leaves_every_written_event_readable(tmp_path):
    path = tmp_path / "journal.jsonl"
    proc = child(
        """
        import sys
        from pathlib import Path
        from converter.records.journal import Journal
        journal = Journal(Path(sys.argv[1]))
        i = 0
        while True:
            event = journal.write("tick", i=i, text="日本語" * 50)
            print(event["seq"], flush=True)
            i += 1
        """,
        str(path),
    )
    reported = [int(proc.stdout.readline()) for _ in range(100)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    reported += [int(line) for line in proc.stdout.read().split()]
    proc.stdout.close()
    proc.stdin.close()
    assert proc.returncode == -signal.SIGKILL

    events = read_journal(path)
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing reordered
    assert set(reported) <= set(seqs)
    assert [e["i"] for e in events] == list(range(len(events)))


def test_truncated_last_line_is_ignored(tmp_path):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        written = [journal.write("e", n=n, text="鍵") for n in range(3)]
    line = (json.dumps({"event": "cut", "text": "日本語"}, ensure_ascii=False) + "\n").encode()
    intact = path.read_bytes()
    for cut in range(1, len(line) - 1):  # includes cuts inside a multibyte character
        path.write_bytes(intact + line[:cut])
        assert read_journal(path) == written, cut
    path.write_bytes(intact + line[:-1])  # complete object, only the newline missing
    assert read_journal(path)[-1]["event"] == "cut"


def test_corrupt_line_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / "journal.jsonl"
    with Journal(path) as journal:
        journal.write("a")
    path.write_bytes(path.read_bytes() + b'{"event": "bro\n')
    with Journal(path) as journal:
        journal.write("b")
    with pytest.raises(RecordError) as info:
        read_journal(path)
    assert info.value.line == 2


def test_missing_journal_is_a_record_error(tmp_path):
    with pytest.raises(RecordError):
        read_journal(tmp_path / "nope.jsonl")

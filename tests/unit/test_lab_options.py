"""``runbook lab`` options without starting a server: --records, --operator, --port reach
JupyterLab and its kernels; a missing JupyterLab names what to install."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from click.testing import CliRunner

from converter import lab
from converter.cli import cli, main


class _FakeServer:
    pid = 0

    def wait(self, timeout=None):
        return 0

    def poll(self):
        return 0


def test_records_operator_and_port_reach_the_server_and_the_url_is_printed(
    tmp_path: Path, monkeypatch
) -> None:
    seen = {}

    def popen(args, env, start_new_session):
        seen.update(args=args, env=env)
        return _FakeServer()

    monkeypatch.setattr(lab.subprocess, "Popen", popen)
    monkeypatch.setattr(lab, "wait_ready", lambda *a: True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notebooks").mkdir()
    result = CliRunner().invoke(
        cli,
        ["lab", "--records", "elsewhere", "--operator", "frank", "--port", "18765"],
        env={"RUNBOOK_RECORDS": None, "RUNBOOK_OPERATOR": None},
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("http://127.0.0.1:18765/lab?token="), result.output
    assert seen["env"]["RUNBOOK_RECORDS"] == str(tmp_path / "elsewhere")
    assert seen["env"]["RUNBOOK_OPERATOR"] == "frank"
    assert "--ServerApp.port=18765" in seen["args"]


def test_without_jupyterlab_it_says_what_to_install(monkeypatch, capsys) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jupyterlab" else real(name)
    )
    try:
        main(["lab"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert "JupyterLab is not installed" in err and "pip install -e '.[lab]'" in err, err

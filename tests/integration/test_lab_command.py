"""``runbook lab``: converts a Markdown runbook, serves JupyterLab on loopback, prints the URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

RUNBOOK = (
    "---\nid: lab-demo\nlang: en\n---\n# Lab demo\n\n"
    "## Procedure\n\n#### 1-1. Hello\n\n```bash\necho hello\n```\n"
)


def test_lab_converts_the_runbook_serves_it_on_loopback_and_stops_cleanly(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "demo.md").write_text(RUNBOOK, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_", "JUPYTER"))}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "jupyter-config")
    proc = subprocess.Popen(
        [sys.executable, "-m", "converter", "lab", "demo.md"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        url = proc.stdout.readline().strip()  # the one line on stdout, once the server answers
        assert url.startswith("http://127.0.0.1:") and "/lab/tree/demo.ipynb?token=" in url, url
        assert (tmp_path / "notebooks" / "demo.ipynb").exists()
        base, token = url.split("/lab/")[0], url.split("token=")[1]
        with urllib.request.urlopen(
            f"{base}/api/contents/demo.ipynb?token={token}", timeout=30
        ) as reply:
            assert json.load(reply)["content"]["metadata"]["runbook"]["id"] == "lab-demo"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()

"""Browser fixtures: JupyterLab on a free loopback port, headless Chromium driven by Playwright.

- ``chromium_path``: ``$RUNBOOK_CHROMIUM`` or ``/usr/bin/chromium``; missing, the test
  fails under ``CI=true`` and is skipped elsewhere.
- ``jupyter_lab``: a private JupyterLab (temporary root, config, settings and
  workspaces; random token; news, update checks and notification toasts off;
  no notebook windowing, so every cell is in the DOM) whose kernels see
  ``RUNBOOK_RECORDS=<tmp>/records`` and ``RUNBOOK_OPERATOR=browser-test`` (plus
  ``lab_env``, a fixture a test module overrides).
  Stopped at teardown: SIGTERM (the server shuts its kernels down), then SIGKILL.
- ``lab_page``: a Playwright page (1400x1000) wrapped in :class:`LabPage`, the
  few operator gestures the scenario needs and ``shot()`` for screenshots in
  ``test-artifacts/browser/<test>/`` (git-ignored; with the server log, and on
  failure the last page as PNG and HTML).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from converter.lab import jupyter_lab_args
from converter.lab import stop as stop_server

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OPERATOR = "browser-test"
VIEWPORT = {"width": 1400, "height": 1000}
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
UI_TIMEOUT_MS = 90_000  # generous: CI machines are often loaded

# JupyterLab user settings that keep the page quiet and deterministic.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable; fail under CI=true when it is missing, else skip."""
    path = os.environ.get("RUNBOOK_CHROMIUM") or DEFAULT_CHROMIUM
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        why = f"Chromium not found at {path} (apt-get install chromium, or set RUNBOOK_CHROMIUM)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return path


@dataclass
class JupyterLab:
    """A running JupyterLab server for one test."""

    root: Path
    records: Path
    port: int
    token: str
    proc: subprocess.Popen
    log: Path

    def url(self, notebook: str | None = None) -> str:
        where = f"/lab/tree/{notebook}" if notebook else "/lab"
        return f"http://127.0.0.1:{self.port}{where}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(
                self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            )
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_lab_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")


def _wait_ready(lab: JupyterLab) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{lab.port}/api/status", headers={"Authorization": f"token {lab.token}"}
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if lab.proc.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with status {lab.proc.returncode}:\n{lab.log_tail()}"
            )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"JupyterLab did not answer /api/status within {START_TIMEOUT_S:g} s:\n{lab.log_tail()}"
    )


def _kernel_pids(lab: JupyterLab) -> list[int]:
    """Pids of the kernels the server started (their connection files name them)."""
    pids = []
    for proc_dir in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not proc_dir.name.isdigit():
            continue
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(str(lab.root.parent).encode() in part and b"kernel-" in part for part in cmdline):
            pids.append(int(proc_dir.name))
    return pids


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """``test-artifacts/browser/<test name>/``, emptied: screenshots, server log, failure page."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name.removeprefix("test_")).strip("-")
    path = ARTIFACTS / name
    if path.is_dir():
        for old in path.iterdir():
            old.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def lab_env() -> dict[str, str]:
    """Extra environment for the lab's kernels (a test module overrides this fixture)."""
    return {}


@pytest.fixture
def jupyter_lab(
    tmp_path: Path, artifacts_dir: Path, lab_env: dict[str, str]
) -> Iterator[JupyterLab]:
    """A private JupyterLab on a free loopback port; no process is left behind."""
    root, records, home = tmp_path / "lab", tmp_path / "records", tmp_path / "jupyter"
    for path in (root, records, home):
        path.mkdir()
    settings_dir, workspaces_dir = home / "user-settings", home / "workspaces"
    _write_lab_settings(settings_dir)
    log = artifacts_dir / "jupyter-server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_", "JUPYTER", "JPY_"))}
    env.update(
        {
            "RUNBOOK_RECORDS": str(records),
            "RUNBOOK_OPERATOR": OPERATOR,
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONIOENCODING": "utf-8",
            **lab_env,
        }
    )
    port, token = _free_port(), secrets.token_hex(24)
    args = [
        *jupyter_lab_args(root, port, token),  # the command `runbook lab` starts
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--LabApp.workspaces_dir={workspaces_dir}",
        # window.jupyterapp: run commands, read kernel status
        "--LabApp.expose_app_in_browser=True",
    ]
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            args,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = JupyterLab(root, records, port, token, proc, log)
    try:
        _wait_ready(lab)
        yield lab
    finally:
        kernels = _kernel_pids(lab)
        stop_server(proc, STOP_TIMEOUT_S)
        _reap(kernels)


def _reap(pids: list[int]) -> None:
    """Kernels normally exit with the server; kill any that outlive it by 10 s."""
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True


class LabPage:
    """The operator's gestures on one notebook, plus screenshots named by step."""

    def __init__(self, page, lab: JupyterLab, artifacts: Path):
        self.page = page
        self.lab = lab
        self.artifacts = artifacts
        self.shots: dict[str, Path] = {}

    # -- navigation and kernel -------------------------------------------------
    def open_notebook(self, notebook: str) -> None:
        self.page.goto(self.lab.url(notebook))
        self.page.wait_for_selector(
            ".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=UI_TIMEOUT_MS
        )
        # the tab shown is this notebook (a restored workspace may hold others)
        self.page.wait_for_function(
            "(name) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " return !!(w && w.context && w.context.path === name); }",
            arg=notebook,
            timeout=UI_TIMEOUT_MS,
        )
        self.page.evaluate(
            "() => window.jupyterapp.shell.collapseLeft()"
        )  # the notebook gets the width
        self.wait_idle()

    def wait_idle(self, timeout_ms: int = UI_TIMEOUT_MS) -> None:
        """Until the notebook's kernel is idle and no cell is queued or running ("[*]")."""
        self.page.wait_for_function(
            """() => {
                const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                const s = w && w.sessionContext && w.sessionContext.session;
                const k = s && s.kernel;
                if (!k || k.status !== 'idle') return false;
                const prompts = [...document.querySelectorAll('.jp-InputPrompt')];
                return !prompts.some(p => p.textContent.includes('*'));
            }""",
            timeout=timeout_ms,
        )

    def command(self, command_id: str) -> None:
        """Run a JupyterLab command (what the menus and shortcuts call)."""
        self.page.evaluate("(id) => window.jupyterapp.commands.execute(id)", command_id)

    def run_all(self) -> None:
        """Run ▸ Run All Cells, then wait until the kernel is idle again."""
        self.command("notebook:run-all-cells")
        self.page.wait_for_timeout(
            300
        )  # let the first execute request leave before polling for idle
        self.wait_idle()

    def run_cell(self, cell) -> None:
        """Select a cell and run it (Ctrl+Enter: run, stay; no cell is added)."""
        cell.first.evaluate(
            """(node) => {
                const panel = window.jupyterapp.shell.currentWidget;
                const cells = [...panel.content.node.querySelectorAll('.jp-Cell')];
                panel.content.activeCellIndex = cells.indexOf(node);
                panel.content.deselectAll();
            }"""
        )  # select it as a click would, also when its input is collapsed
        self.command("notebook:run-cell")
        self.page.wait_for_timeout(300)
        self.wait_idle()

    # -- locators --------------------------------------------------------------
    def code_cell(self, first_line: str):
        """The code cell whose source starts with ``first_line`` (e.g. ``%%step 1-1``)."""
        pattern = re.compile(r"^\s*" + re.escape(first_line) + r"(\s|$)")
        return self.page.locator(".jp-CodeCell").filter(
            has=self.page.locator(
                ".jp-InputArea-editor .cm-content > .cm-line:first-child", has_text=pattern
            )
        )

    def step_cell(self, step_id: str):
        return self.code_cell(f"%%step {step_id}")

    def checklist_cell(self, list_id: str):
        return self.page.locator(".jp-CodeCell").filter(
            has=self.page.locator(f".runbook-checklist-{_css(list_id)}")
        )

    def role_cells(self, marker: str):
        """Code cells whose output holds ``marker`` (a CSS selector of a runbook view)."""
        return self.page.locator(".jp-CodeCell").filter(has=self.page.locator(marker))

    def set_parameter(self, name: str, value: str) -> None:
        """Type a value into the setup cell's form and press Enter (the form applies it)."""
        field = self.page.locator(f".runbook-param-{name} input")
        field.fill(value)
        field.press("Enter")

    def checkbox(self, item_id: str):
        return self.page.locator(f".runbook-check-{_css(item_id)} input[type=checkbox]")

    def tick(self, item_id: str) -> None:
        """Click an item's checkbox and wait until the kernel has journaled the tick."""
        box = self.checkbox(item_id)
        box.scroll_into_view_if_needed()
        box.click()
        # the kernel journaled it: the label now names who ticked it
        self.page.wait_for_selector(
            f'.runbook-label-{_css(item_id)} .runbook-who[data-checked="true"]',
            timeout=UI_TIMEOUT_MS,
        )

    # -- evidence --------------------------------------------------------------
    def shot(self, step: str, *, focus=None) -> Path:
        """Save a viewport screenshot ``test-artifacts/browser/<test>/NN-<step>.png``."""
        if focus is not None:  # put it at the top of the notebook's viewport
            focus.first.evaluate("el => el.scrollIntoView({block: 'start'})")
        self.page.wait_for_timeout(200)  # let widget layout settle
        path = self.artifacts / f"{len(self.shots) + 1:02d}-{step}.png"
        self.page.screenshot(path=str(path))
        self.shots[step] = path
        return path


def _css(text: str) -> str:
    """The class-name form of an id, as ``converter.runtime.checklists`` writes it."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


@pytest.fixture
def chromium(chromium_path: str) -> Iterator[object]:
    """Headless Chromium from the system (Playwright's own download is not used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def lab_page(
    chromium, jupyter_lab: JupyterLab, artifacts_dir: Path, request: pytest.FixtureRequest
) -> Iterator[LabPage]:
    """A 1400x1000 page on ``jupyter_lab``.

    On failure a last screenshot and the page HTML are kept.
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    context = chromium.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    ui = LabPage(page, jupyter_lab, artifacts_dir)
    try:
        yield ui
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            with contextlib.suppress(
                Exception
            ):  # best effort: the test's own failure is what matters
                page.screenshot(path=str(artifacts_dir / "failure.png"))
                (artifacts_dir / "failure.html").write_text(page.content(), encoding="utf-8")
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Expose each phase's report as ``item.rep_<phase>`` (for the failure artifacts above)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report

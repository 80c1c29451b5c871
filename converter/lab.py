"""``runbook lab [PATH]``: JupyterLab on loopback, opened at the runbook an operator works through.

CLI semantics implemented by :func:`lab_command`:

- ``PATH`` omitted: the directory ``./notebooks``.
- ``PATH`` a directory: JupyterLab's root is that directory; the URL opens ``/lab``.
- ``PATH`` a notebook (``*.ipynb``): the root is its directory; the URL opens
  ``/lab/tree/<name>.ipynb``.
- ``PATH`` a Markdown runbook (``*.md``, ``*.markdown``): it is converted first, into
  ``./notebooks/<name>.ipynb`` when ``./notebooks`` is a directory, otherwise beside
  the source (rewritten only when stale, so an up-to-date notebook is untouched);
  then that notebook is opened as above. A runbook that does not parse is an error
  (exit 2, ``path:line: message``) and nothing starts.
- Anything else (missing path, other suffix) is an error (exit 2).

JupyterLab runs as ``sys.executable -m jupyterlab`` bound to ``127.0.0.1`` on a free
port (or ``--port``; never another one), with a fresh random token and
``--no-browser``. Records go to ``--records`` or ``$RUNBOOK_RECORDS`` or, when
unset, to ``./records`` of the directory ``runbook lab`` was started in (the same
place ``runbook run`` uses), because kernels start in the notebook's directory;
``--operator`` (else ``$RUNBOOK_OPERATOR``) names who runs them. Without
JupyterLab installed (an optional extra) the command says what to install.
Once ``/api/status`` answers, the URL (with ``?token=…``) is printed as the one
line on stdout and, with ``--open``, opened in the default browser. Then the
command waits for the server; Ctrl-C (or SIGTERM) stops it cleanly (SIGTERM to the
server, which shuts its kernels down; killed after 10 s) and exits 0. If the
server exits on its own, its exit status is the command's; if it does not answer
within 120 s, or exits before answering (e.g. ``--port`` in use), the command
fails with exit 2 and the server's own log (stderr) says why.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from .errors import RunbookError
from .notebook.convert import MARKDOWN_SUFFIXES

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


INSTALL_HINT = "pip install -e '.[lab]'"
"""What installs JupyterLab next to the package (README, "Guided execution in JupyterLab")."""


def lab_command(
    path: Path | None,
    *,
    port: int | None,
    open_browser: bool,
    records: Path | None = None,
    operator: str | None = None,
) -> None:
    """Start JupyterLab for ``path`` (see the module docstring), print its URL and wait.

    ``records`` and ``operator`` reach the kernels as ``RUNBOOK_RECORDS`` and
    ``RUNBOOK_OPERATOR``: where their records go and who they name.
    """
    require_jupyterlab()
    root, notebook = resolve_target(path if path is not None else Path("notebooks"))
    port = port or free_port()
    token = secrets.token_hex(24)
    url = lab_url(port, token, notebook.name if notebook else None)
    env = dict(os.environ)
    if records is not None:
        env["RUNBOOK_RECORDS"] = str(records.resolve())
    env.setdefault("RUNBOOK_RECORDS", str(Path("records").resolve()))
    if operator:
        env["RUNBOOK_OPERATOR"] = operator
    proc = subprocess.Popen(
        jupyter_lab_args(root, port, token),
        env=env,
        start_new_session=True,  # Ctrl-C is ours to forward
    )
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        if not wait_ready(proc, port, token, START_TIMEOUT_S):
            code = proc.poll()
            raise RunbookError(
                f"JupyterLab did not start on 127.0.0.1:{port}"
                + (
                    f" (exited with status {code})"
                    if code is not None
                    else f" within {START_TIMEOUT_S:g} s"
                )
            )
        print(url, flush=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        code = proc.wait()
        if code:
            raise SystemExit(code)
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
        signal.signal(signal.SIGTERM, previous)


def require_jupyterlab() -> None:
    """Fail with what to install when JupyterLab is missing (it is an optional extra)."""
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        raise RunbookError(
            "JupyterLab is not installed in this environment; install it with: "
            f"{INSTALL_HINT}   (or: pip install 'jupyterlab>=4.2')"
        )


def resolve_target(path: Path) -> tuple[Path, Path | None]:
    """(root directory, notebook to open or None), converting a Markdown runbook first."""
    if path.is_dir():
        return path.resolve(), None
    if not path.is_file():
        raise RunbookError("no such notebook, runbook or directory", path=str(path))
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        notebook = path.resolve()
    elif suffix in MARKDOWN_SUFFIXES:
        notebook = convert_runbook(path).resolve()
    else:
        raise RunbookError(
            "expected a directory, a notebook (.ipynb) or a Markdown runbook (.md)", path=str(path)
        )
    return notebook.parent, notebook


def convert_runbook(source: Path) -> Path:
    """Convert ``source`` into ./notebooks (if that directory exists) or beside it.

    Returns the notebook's path.
    """
    from .notebook.convert import plan, stale, write_all

    out = Path("notebooks") if Path("notebooks").is_dir() else None
    conversions = plan([source], out)
    write_all([c for c in conversions if c.target in stale(conversions)])
    return conversions[0].target


def jupyter_lab_args(root: Path, port: int, token: str) -> list[str]:
    """The JupyterLab command line: loopback, this port only, token auth, no browser, no news."""
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.open_browser=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
    ]
    if (
        hasattr(os, "geteuid") and os.geteuid() == 0
    ):  # containers: Jupyter refuses root without this
        args.append("--ServerApp.allow_root=True")
    return args


def lab_url(port: int, token: str, notebook_name: str | None) -> str:
    """``http://127.0.0.1:PORT/lab[/tree/NAME]?token=TOKEN``."""
    where = f"/lab/tree/{quote(notebook_name)}" if notebook_name else "/lab"
    return f"http://127.0.0.1:{port}{where}?token={token}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(proc: subprocess.Popen, port: int, token: str, timeout: float) -> bool:
    """Poll ``/api/status`` until it answers (True), the server exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


def stop(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (the server shuts its kernels down), then SIGKILL the group after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt

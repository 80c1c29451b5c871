"""Drive a converted runbook in a real kernel, as an operator in JupyterLab would.

A runbook is converted, a real ipykernel is started with the environment JupyterLab
would give it (``RUNBOOK_NOTEBOOK``, ``RUNBOOK_RECORDS``, ``RUNBOOK_OPERATOR`` and
whatever the test adds), and its cells are run one by one, found by their role
(``setup``, ``step``/``1-1``, ``checklist``/``pre``…). Buttons are clicked and boxes
ticked through the ipywidgets objects in the kernel: ``Button.click()`` and setting a
``Checkbox`` value fire the same callbacks a browser's click does.
"""

from __future__ import annotations

import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_client import KernelManager

from converter.markdown.parse import parse_file
from converter.notebook.build import build_notebook, write_notebook
from converter.records.journal import read_journal

CELL_TIMEOUT_S = 120

WIDGETS = (
    "import ipywidgets\n"
    "from ipywidgets.widgets import widget as _wm\n"
    "_all = getattr(_wm, '_instances', None) or ipywidgets.Widget.widgets\n"
)


@dataclass(frozen=True)
class Reply:
    """What one cell did: its status, its error (if any) and everything it showed as text."""

    status: str
    ename: str
    evalue: str
    text: str
    kinds: tuple[str, ...] = ()
    """The type of each output message, in order (``stream``, ``display_data``…)."""


class LabNotebook:
    """One runbook, converted, with a kernel to run its cells in."""

    def __init__(
        self, work: Path, runbook: str, *, env: dict[str, str] | None = None, name: str = "rb"
    ):
        self.work = Path(work)
        source = self.work / f"{name}.md"
        source.write_text(textwrap.dedent(runbook).lstrip(), encoding="utf-8")
        self.source = source
        self.notebook = self.work / f"{name}.ipynb"
        write_notebook(build_notebook(parse_file(source), source_name=source.name), self.notebook)
        self.records = self.work / "records"
        self.cells: dict[str, str] = {}
        for cell in nbformat.read(self.notebook, as_version=4).cells:
            meta = cell.metadata.get("runbook", {})
            if cell.cell_type == "code":
                key = "/".join(
                    str(x)
                    for x in (meta.get("role"), meta.get("step_id") or meta.get("checklist_id"))
                    if x
                )
                self.cells[key] = cell.source
        child = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBOOK_", "JPY_"))}
        child.update(
            RUNBOOK_RECORDS=str(self.records),
            RUNBOOK_NOTEBOOK=str(self.notebook),
            RUNBOOK_OPERATOR="olivia",
        )
        child.update(env or {})
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=child, cwd=str(self.work))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=CELL_TIMEOUT_S)

    def execute(self, code: str) -> Reply:
        """Run ``code`` as one cell."""
        parts: list[str] = []
        kinds: list[str] = []

        def hook(message: dict) -> None:
            content, kind = message["content"], message["msg_type"]
            if kind in ("stream", "display_data", "update_display_data", "execute_result"):
                kinds.append(kind)
            if kind == "stream":
                parts.append(content["text"])
            elif kind in ("display_data", "update_display_data", "execute_result"):
                parts.append(str(content["data"].get("text/plain", "")) + "\n")

        reply = self.client.execute_interactive(code, timeout=CELL_TIMEOUT_S, output_hook=hook)
        content = reply["content"]
        return Reply(
            content["status"],
            content.get("ename", ""),
            content.get("evalue", ""),
            "".join(parts),
            tuple(kinds),
        )

    def run(self, key: str, *, source: str | None = None) -> Reply:
        """Run the cell ``key`` (``setup``, ``step/1-1``, ``checklist/pre``…), or ``source`` in
        its place (a cell the operator edited and ran without saving)."""
        return self.execute(self.cells[key] if source is None else source)

    def parameters(self, **values: object) -> Reply:
        """Run the parameters cell with ``values`` set below it (as the operator edits it)."""
        extra = "".join(f"\n{name} = {value!r}" for name, value in values.items())
        return self.execute(self.cells["parameters"] + extra)

    def click(self, css_class: str) -> Reply:
        """Click the newest button carrying ``css_class`` (its output goes to its own widget:
        the text returned is what the click printed there)."""
        return self.execute(
            WIDGETS + f"_b = [w for w in list(_all.values()) if isinstance(w, ipywidgets.Button)"
            f" and {css_class!r} in w._dom_classes][-1]\n"
            "_out = [w for w in list(_all.values()) if isinstance(w, ipywidgets.VBox)"
            " and _b in w.children][-1].children[-1]\n"
            "_before = len(_out.outputs)\n"
            "_b.click()\n"
            "for _o in _out.outputs[_before:]:\n"
            "    print(_o.get('text') or _o.get('data', {}).get('text/plain', ''))\n"
        )

    def tick(self, list_id: str, index: int = 0) -> Reply:
        """Tick item ``index`` of the list ``list_id`` through its checkbox."""
        css = "runbook-checklist-" + "".join(
            c if c.isalnum() or c in "-_" else "-" for c in list_id
        )
        return self.execute(
            WIDGETS + f"_p = [w for w in list(_all.values()) if isinstance(w, ipywidgets.VBox)"
            f" and {css!r} in w._dom_classes][-1]\n"
            "_rows = [r for r in _p.children if 'runbook-check-row' in r._dom_classes]\n"
            f"_rows[{index}].children[0].value = True\n"
        )

    def record(self) -> Path:
        """The one record this notebook's runs made."""
        (journal,) = self.records.glob("*/*/journal.jsonl")
        return journal.parent

    def journal(self) -> list[dict]:
        return read_journal(self.record() / "journal.jsonl")

    def manifest(self) -> dict:
        return json.loads((self.record() / "manifest.json").read_text(encoding="utf-8"))

    def close(self) -> None:
        self.client.stop_channels()
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=True)

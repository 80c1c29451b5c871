"""Read the check states every file of a record shows, so tests can hold them side by side.

A record tells one story: ``manifest.json``, ``record.ipynb`` (and
``rollback.ipynb``), ``record.html`` and both exports must show each checklist
item with the same state, by the same person, at the same time.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import NamedTuple

from converter.records.verdict import EXECUTED

_ITEM = re.compile(r'<li data-check="([^"]+)" data-checked="(true|false)">(.*?)</li>', re.DOTALL)
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_EXPORT_LINE = re.compile(r"^  \[( |x)\] (\S+): .*?(?:  — (.+) at (\S+))?$", re.MULTILINE)


class Shown(NamedTuple):
    """One item as one file shows it."""

    checked: bool
    at: str | None


def from_manifest(record: Path) -> dict[str, Shown]:
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))
    return {
        c["id"]: Shown(bool(c["checked"]), c.get("at") if c["checked"] else None)
        for c in manifest["checks"]
    }


def from_markup(text: str) -> dict[str, list[Shown]]:
    """Every ``<li data-check>`` in HTML (a notebook's outputs or record.html), in order."""
    found: dict[str, list[Shown]] = {}
    for item_id, checked, body in _ITEM.findall(html.unescape(text) if "&lt;li" in text else text):
        stamp = _STAMP.search(body)
        found.setdefault(item_id, []).append(
            Shown(checked == "true", stamp.group(0) if stamp and checked == "true" else None)
        )
    return found


def from_notebook(path: Path) -> dict[str, list[Shown]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    markup = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            data = out.get("data", {}).get("text/html")
            if data:
                markup.append("".join(data) if isinstance(data, list) else data)
    return from_markup("\n".join(markup))


def from_export(text: str) -> dict[str, Shown]:
    """The checks section of ``records show`` / ``records export --format md``."""
    return {m.group(2): Shown(m.group(1) == "x", m.group(4)) for m in _EXPORT_LINE.finditer(text)}


def disagreements(record: Path, exports: dict[str, str]) -> list[str]:
    """Every place a file of ``record`` shows an item differently from the manifest."""
    truth = from_manifest(record)
    problems = []
    views: dict[str, dict[str, list[Shown]]] = {
        name: from_notebook(record / name)
        for name in ("record.ipynb", "rollback.ipynb")
        if (record / name).exists()
    }
    views["record.html"] = from_markup((record / "record.html").read_text(encoding="utf-8"))
    for name, text in exports.items():
        views[name] = {k: [v] for k, v in from_export(text).items()}
    for name, shown in views.items():
        for item_id, states in shown.items():
            for state in states:
                if item_id not in truth:
                    problems.append(f"{name}: {item_id} is not in the manifest")
                elif state != truth[item_id]:
                    problems.append(f"{name}: {item_id} shows {state}, manifest {truth[item_id]}")
    notebooks = {
        item_id for name in ("record.ipynb", "rollback.ipynb") for item_id in views.get(name, {})
    }
    for name, shown_ids in (
        ("the notebooks", notebooks),
        ("record.html", set(views["record.html"])),
    ):
        missing = [
            item_id
            for item_id, state in truth.items()
            if state.checked and item_id not in shown_ids
        ]
        problems += [f"{name}: ticked {item_id} is not shown" for item_id in missing]
    return problems


_LINE = re.compile(r'class="runbook-status runbook-([a-z_]+)" data-step="([^"]+)"')


def status_disagreements(record: Path) -> list[str]:
    """Every place a file of ``record`` shows a step otherwise than the manifest.

    The notebook that held a step's pass (rollback.ipynb for a headless rollback pass) must
    end its cell with the manifest's status line, whatever the step's outcome (a carried
    ``succeeded (in RUN)`` shows as succeeded); record.html must show that line and, for a
    step that ran, no other outcome of a run.
    """
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))
    truth = {
        s["id"]: (s["status"].split(" ")[0], s["kind"])
        for s in manifest["steps"]
        if s["status"] != "not_run"
    }
    problems = []
    cells: dict[str, list[str]] = {}
    separate = (record / "rollback.ipynb").exists()  # a headless rollback pass ran there
    for name in ("record.ipynb", "rollback.ipynb"):
        if not (record / name).exists():
            continue
        for cell in json.loads((record / name).read_text(encoding="utf-8"))["cells"]:
            meta = cell.get("metadata", {}).get("runbook", {})
            if meta.get("role") != "step":
                continue
            shown = [
                m.group(1)
                for out in cell.get("outputs", [])
                for m in _LINE.finditer("".join(out.get("data", {}).get("text/html", "")))
            ]
            in_rollback_pass = separate and meta.get("kind") == "rollback"
            if (name == "rollback.ipynb") == in_rollback_pass:
                cells[meta["step_id"]] = shown
    page = _LINE.findall((record / "record.html").read_text(encoding="utf-8"))
    for step, (status, _kind) in truth.items():
        if not cells.get(step) or cells[step][-1] != status:
            problems.append(f"notebook: {step} ends with {cells.get(step)}, manifest {status}")
        on_page = {s for s, shown_step in page if shown_step == step}
        ran = set(EXECUTED) - {status} if status in EXECUTED else set()
        if status not in on_page or on_page & ran:
            problems.append(f"record.html: {step} shows {sorted(on_page)}, manifest {status}")
    return problems

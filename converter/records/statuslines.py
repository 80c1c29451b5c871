"""A sealed record's step status lines: each executed step's line is its verdict's.

Headless, the kernel sends no status line when a step ends (nobody watches; one display
message fewer per step); in JupyterLab it shows the line live, which a kernel killed in the
middle of a step leaves saying ``running``. Sealing settles both the same way: the last
status line of every step whose commands ran is the one the verdict gives (replaced in
place, or added after the step's output), so record.ipynb, record.html and the manifest
tell one story. Steps that never ran (skipped, blocked, a dry run) keep the line the kernel
showed: its reason is there, and the verdict adds nothing to it.
"""

from __future__ import annotations

from typing import Any

from .mask import SecretMasker
from .outputs import display_output, is_status_line, status_bundle, step_detail
from .verdict import EXECUTED, Verdict


def settle_status_lines(
    nb: Any,
    declared: list[dict[str, Any]],
    verdict: Verdict | None,
    rollback: Verdict | None,
    masker: SecretMasker,
) -> None:
    """Give every executed step cell of ``nb`` its verdict's status line (in place).

    ``declared`` are the run's steps (id, title), as the manifest lists them. A rollback
    step's verdict is ``rollback``'s when that pass was judged, as the manifest has it
    (:func:`converter.records.seal.manifest_steps`).
    """
    titles = {s.get("id"): str(s.get("title") or "") for s in declared}
    for cell in nb.cells:
        meta = cell.metadata.get("runbook", {})
        if cell.cell_type != "code" or meta.get("role") != "step":
            continue
        step_id = str(meta.get("step_id"))
        judged = rollback if (rollback is not None and meta.get("kind") == "rollback") else verdict
        result = (judged.steps if judged else {}).get(step_id)
        if not result or result.get("status") not in EXECUTED:
            continue
        detail = step_detail(
            result.get("exit_code"), result.get("duration_s"), result.get("reason")
        )
        bundle = status_bundle(step_id, titles.get(step_id, step_id), result["status"], detail)
        line = display_output({kind: masker.mask(text) for kind, text in bundle.items()})
        shown = [i for i, output in enumerate(cell.outputs) if is_status_line(output)]
        if shown:
            cell.outputs[shown[-1]] = line
        else:
            cell.outputs.append(line)

"""Running shellcheck over many shell blocks: few processes, each given a batch of files.

One process per block made ``runbook lint`` of a 10,000-step runbook take a minute;
blocks are written to files in a temporary directory and checked a batch at a time
(in parallel), and each comment is returned with the block it belongs to.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BATCH = 200
"""Blocks per shellcheck process."""

Result = list[dict[str, Any]] | str  # the block's comments, or why shellcheck failed on it


def shellcheck_blocks(binary: str, codes: list[str]) -> list[Result]:
    """shellcheck's json1 comments for each code (``-s bash``), in the order given."""
    if not codes:
        return []
    with tempfile.TemporaryDirectory(prefix="runbook-lint-") as tmp:
        files = []
        for index, code in enumerate(codes):
            path = Path(tmp) / f"{index}.sh"
            path.write_text(code, encoding="utf-8", errors="surrogateescape")
            files.append(str(path))
        batches = [files[i : i + BATCH] for i in range(0, len(files), BATCH)]
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            done = list(pool.map(lambda batch: _run(binary, batch), batches))
    return [result for batch in done for result in batch]


def _run(binary: str, files: list[str]) -> list[Result]:
    command = [binary, "-s", "bash", "-f", "json1", *files]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        comments = json.loads(done.stdout)["comments"]
    except (OSError, subprocess.SubprocessError) as exc:
        return [str(exc)] * len(files)
    except (ValueError, KeyError, TypeError):
        return [done.stderr or done.stdout] * len(files)
    by_file: dict[str, list[dict[str, Any]]] = {name: [] for name in files}
    for comment in comments:
        if isinstance(comment, dict) and comment.get("file") in by_file:
            by_file[comment["file"]].append(comment)
    return [by_file[name] for name in files]

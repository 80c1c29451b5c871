"""``runbook run``: execute a runbook headless through papermill and seal its record.

Order matters for evidence: parameters are validated and the record directory is
created *before* a kernel starts (no evidence, no execution); papermill writes
``record.ipynb`` into that directory as cells run; the verdict comes from the
journal (:mod:`converter.verdict`), not from papermill; the manifest is written
last and chained. SIGTERM/SIGINT interrupt the kernel, so the running step's
process group is stopped and the record still gets written, as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat

from .errors import ParameterError, RunbookError
from .progress import progress as _progress
from .record import create_record_dir
from .runparams import operator_name, resolve_parameters
from .runtime.journal import Journal, read_journal, utc_now
from .runtime.mask import SecretMasker
from .verdict import Verdict, judge

if TYPE_CHECKING:
    from traitlets.config import Config

EXIT_CODES = {"succeeded": 0, "failed": 1, "blocked": 3, "interrupted": 130}


@dataclass(frozen=True)
class RunOptions:
    """Everything ``runbook run`` accepts, as one value."""

    source: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    parameters_from_text: frozenset[str] = frozenset()
    dry_run: bool = False
    confirm: tuple[str, ...] = ()
    rollback_on_failure: bool = False
    records: Path = Path("records")
    timeout: float | None = None
    operator: str | None = None
    progress: bool = True


@dataclass(frozen=True)
class RunOutcome:
    """Where the record is and what it says."""

    status: str
    run_dir: Path
    manifest: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


def load_notebook(source: Path) -> nbformat.NotebookNode:
    """A generated notebook: converted on the fly from Markdown, or read as is."""
    if source.suffix == ".ipynb":
        try:
            nb = nbformat.read(source, as_version=4)
        except (OSError, ValueError) as exc:
            raise RunbookError(f"cannot read notebook: {exc}", path=str(source)) from None
        if "runbook" not in nb.metadata:
            raise RunbookError("not a runbook notebook (no metadata.runbook); convert its Markdown first", path=str(source))
        return nb
    from .build import build_notebook
    from .parse import parse_file

    return build_notebook(parse_file(source), source_name=str(source))


def run_runbook(options: RunOptions) -> RunOutcome:
    """Validate, create the record, execute, judge, optionally roll back, seal."""
    nb = load_notebook(options.source)
    meta = nb.metadata["runbook"]
    operator = operator_name(options.operator)
    values, secrets = resolve_parameters(meta.get("parameters", []), options.parameters, options.parameters_from_text)
    _check_confirm_ids(meta, options.confirm)
    from .recover import finalize_abandoned

    if options.records.is_dir():
        finalize_abandoned(options.records)  # seal runs that were killed before they could
    run_dir, run_id = create_record_dir(options.records, str(meta["id"]))
    masker = SecretMasker(secrets)
    journal = Journal(run_dir / "journal.jsonl", masker=masker)
    started = utc_now()
    shown = {p["name"]: ("***" if p.get("secret") else values.get(p["name"])) for p in meta.get("parameters", [])}
    journal.write("run_start", source="runner", pid=os.getpid(), run_id=run_id, operator=operator,
                  dry_run=options.dry_run, parameters=shown, confirm=list(options.confirm))
    settings = {"dry_run": options.dry_run, "confirm": list(options.confirm), "operator": operator,
                "runbook_mode": "headless", "records_dir": str(options.records), "run_dir": str(run_dir)}
    guard = _SignalGuard(run_dir / "journal.jsonl")
    with guard:
        verdict = _execute_pass(nb, run_dir / "record.ipynb", {**values, **settings, "rollback": False},
                                journal, "main", guard, options)
        rollback = None
        if verdict.status == "failed" and options.rollback_on_failure and not guard.interrupted:
            rollback = _execute_pass(nb, run_dir / "rollback.ipynb", {**values, **settings, "rollback": True},
                                     journal, "rollback", guard, options)
        # Still guarded: a signal from here on is noted and ignored, so the record gets sealed.
        status = "interrupted" if guard.interrupted else verdict.status
        journal.write("run_end", source="runner", status=status)
        journal.close()
        from .archive import index_record
        from .seal import seal_record

        manifest = seal_record(run_dir, run_id=run_id, meta=meta, status=status, verdict=verdict, rollback=rollback,
                               operator=operator, started_at=started, parameters=shown, dry_run=options.dry_run,
                               masker=masker)
        index_record(options.records, run_dir, manifest)
    return RunOutcome(status, run_dir, manifest)


def _execute_pass(nb, output: Path, parameters: dict, journal: Journal, name: str, guard, options: RunOptions) -> Verdict:
    """One papermill execution; its journal slice decides its verdict."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    journal.write("pass_start", source="runner", name=name)
    nbformat.write(nbformat.from_dict(nb), output)  # killed before papermill's save: recover fills it in
    first = len(read_journal(journal.path))
    environment = {"RUNBOOK_MODE": "headless"}
    if options.timeout is not None:
        environment["RUNBOOK_TIMEOUT"] = str(options.timeout)
    stopped = None
    with _environment(environment), _progress(journal.path, nb, enabled=options.progress, name=name), \
            _kernel_sockets() as sockets:
        try:
            guard.armed = True  # from here a signal stops the kernel; KeyboardInterrupt is caught
            try:
                papermill.execute_notebook(
                    nbformat.from_dict(nb), str(output), parameters=parameters, kernel_name="python3",
                    # Saving the whole notebook around every cell cost ~90 ms a step and grew with
                    # the notebook (docs/BENCHMARKS.md); the fsynced journal and logs/ are the live
                    # evidence, and papermill still writes the notebook when the pass ends.
                    progress_bar=False, request_save_on_cell_execute=False, log_output=False,
                    # Signalled before the kernel started: run nothing, keep the notebook as the record.
                    prepare_only=guard.interrupted,
                    config=sockets,
                )
            finally:
                guard.armed = False
        except PapermillExecutionError as exc:
            stopped = f"{exc.ename}: {exc.evalue}"
        except KeyboardInterrupt:
            guard.interrupted = True
        except Exception as exc:  # noqa: BLE001 - papermill's dead-kernel and timeout paths raise plain errors
            stopped = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    events = read_journal(journal.path)[first:]
    _fill_unsaved(output, events, nb)
    return _end_pass(journal, name, judge(events, interrupted=guard.interrupted, stopped=stopped))


def _fill_unsaved(output: Path, events: list[dict[str, Any]], nb: nbformat.NotebookNode) -> None:
    """papermill skips its final save when the kernel dies: rebuild the outputs from the journal."""
    from .journal_notebook import record_notebook
    from .recover import has_run, read_notebook

    saved = read_notebook(output)
    if saved is None or not has_run(saved):
        nbformat.write(record_notebook(output.parent, events, nb), output)


def _end_pass(journal: Journal, name: str, verdict: Verdict) -> Verdict:
    journal.write("pass_end", source="runner", name=name, status=verdict.status, failed_step=verdict.failed_step,
                  reason=verdict.reason)
    return verdict


def _check_confirm_ids(meta: dict, confirm: tuple[str, ...]) -> None:
    known = {"all"}
    for checklist in meta.get("checklists", []):
        known.add(checklist["id"])
        known.update(item["id"] for item in checklist["items"])
    unknown = [c for c in confirm if c not in known]
    if unknown:
        lists = ", ".join(c["id"] for c in meta.get("checklists", [])) or "(none)"
        raise ParameterError(f"--confirm {unknown[0]!r} names no checklist or item; checklists: {lists}")


@contextlib.contextmanager
def _kernel_sockets() -> Iterator[Config]:
    """Kernel channels on Unix sockets in a private directory, not TCP ports.

    jupyter_client picks free TCP ports and releases them before the kernel binds,
    so runs started together can collide ("Address already in use"; seen with 20
    concurrent runs). Sockets in a per-run directory cannot, and no other local user
    can connect to them.
    """
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="runbook-kernel-") as private:
        yield Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(private, "kernel")}})


class _environment:
    """Set environment variables for the kernel papermill starts, restore them after."""

    def __init__(self, values: dict[str, str]):
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.saved[key] = os.environ.get(key)
            os.environ[key] = value

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _SignalGuard:
    """SIGTERM/SIGINT → interrupt the kernel (it stops the step's process group), mark interrupted.

    If the kernel does not stop within a few seconds it is killed; its steps die
    with it (pdeathsig), so no process outlives the run. A ``STOP`` file in the
    record stops any step not yet started (the kernel may not be up yet). Outside a
    pass (before the kernel starts, while sealing) a signal is only noted: no pass
    starts after it, and the record is still sealed, as ``interrupted``.
    """

    def __init__(self, journal_path: Path):
        self.journal_path = journal_path
        self.interrupted = False
        self.armed = False  # a pass is inside papermill.execute_notebook
        self.killing: set[int] = set()  # kernels given a few seconds before SIGKILL
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalGuard:  # noqa: PYI034
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: Any) -> None:
        repeated, self.interrupted = self.interrupted, True
        if not self.armed:  # no pass runs: the next one checks `interrupted`, sealing goes on
            return
        (self.journal_path.parent / "STOP").touch()  # checked by %%step before each step
        pid = self._kernel_pid()
        if pid is None:
            # The kernel is not up yet: its first step finds STOP and the pass ends in order.
            # Raising here could cut papermill's save of record.ipynb in half, so only a
            # second signal forces it.
            if repeated:
                raise KeyboardInterrupt
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        if pid not in self.killing:
            self.killing.add(pid)
            threading.Thread(target=_kill_later, args=(pid,), daemon=True).start()

    def _kernel_pid(self) -> int | None:
        """The current pass's kernel: a session_start after the last pass_start."""
        pid = None
        for event in read_journal(self.journal_path):
            if event.get("event") == "pass_start":
                pid = None
            elif event.get("event") == "session_start":
                pid = event.get("pid")
        return pid


def _kill_later(pid: int, grace: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

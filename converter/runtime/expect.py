"""Expected-result checks: a step whose output does not match its check fails.

``match=contains``: every non-empty line of the expected block appears in the
output. ``match=regex``: the block is a Python regular expression searched in the
output (multiline). The step is re-marked ``failed`` in the journal and summary.
"""

from __future__ import annotations

from ..model import expected_regex
from ..records import events as ev
from .errors import StepFailed, StopRun
from .state import RunState, StepResult
from .text import message
from .views import show_step_result


def check_expected(session: RunState, step_id: str, *, match: str, text: str) -> None:
    """Compare the step's (masked) output with ``text``; raise StepFailed on mismatch.

    Never after the record is sealed: a check run then would change the step's status in
    this kernel and journal into a closed record (a ValueError traceback)."""
    if session.finished:
        raise StopRun(message(session.lang, "finished", run_dir=session.run_dir))
    result = session.results.get(step_id)
    if result is None or result.status not in ("succeeded", "failed_allowed"):
        print(message(session.lang, "expected_not_run", step=step_id))
        return
    missing = _missing(match, text, _full_output(result))
    if not missing:
        print(message(session.lang, "expected_ok", match=match))
        session.journal.write(ev.EXPECT, step=step_id, match=match, ok=True)
        return
    reason = message(session.lang, "expected_missing", step=step_id, what=missing)
    result.status, result.reason = "failed", reason
    session.journal.write(ev.EXPECT, step=step_id, match=match, ok=False, missing=missing)
    session.journal.write(
        ev.STEP_END,
        step=step_id,
        status="failed",
        exit_code=result.exit_code,
        duration_s=result.duration_s,
        started_at=result.started_at,
        reason=reason,
    )
    show_step_result(session, step_id, result)  # the step's own line must not stay "succeeded"
    raise StepFailed(reason)


def _full_output(result: StepResult) -> str:
    """All of the step's (masked) output: in memory, or in its log when it printed more."""
    if result.log is None:
        return result.output
    try:
        with open(result.log, "rb") as f:
            f.seek(result.log_from)
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return result.output


def _missing(match: str, text: str, output: str) -> str:
    if match == "regex":
        return "" if expected_regex(text).search(output) else repr(text.strip())
    for line in text.splitlines():
        if line.strip() and line.strip() not in output:
            return repr(line.strip())
    return ""

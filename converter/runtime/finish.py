"""The finish cell: the summary of every step, and the end of the run in the journal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .views import show_summary

if TYPE_CHECKING:
    from .session import Session


def finish_run(session: Session) -> None:
    """Show the summary and journal ``session_end`` with every step's status."""
    show_summary(session)
    statuses = {step_id: result.status for step_id, result in session.results.items()}
    session.journal.write("session_end", source="kernel", statuses=statuses)
    session.finished = True

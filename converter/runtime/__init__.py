"""The kernel side of a runbook notebook: what the generated setup cell loads.

Top down: ``session`` (``start()`` and the :class:`Session` the cells call),
``finish``, ``rollback``, ``checklists``, ``expect``, ``magic`` (``%%step``),
``views`` (status lines, buttons that receive the callable they run),
``shell`` (bash in a process group), ``reaper`` (kills those groups if the
kernel dies), ``stepstate`` (the prelude that carries ``cd`` and ``export``),
``text`` (messages), ``errors`` and
``state`` (the data of a run). Widgets and IPython are imported only when
shown.
"""

from .session import Session, start

__all__ = ["Session", "start"]

"""``python -m converter`` is the ``runbook`` command (handy inside a virtualenv)."""

from .cli import main

main()

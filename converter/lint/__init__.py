"""Model → findings: ``runbook lint``.

``checks`` walks the runbook (placeholders, undefined variables, credentials,
destructive commands without a confirmation, missing rollback, shellcheck);
``shell`` reads shell text the way bash would (words, variables, commands).
"""

from .checks import Finding, lint_paths, lint_runbook, shellcheck_available

__all__ = ["Finding", "lint_paths", "lint_runbook", "shellcheck_available"]

"""Real OpenSSH keys for the signing tests, made by ``ssh-keygen`` in the test's directory.

Without ``ssh-keygen`` the tests skip locally but **fail** under ``CI=true``
(STYLE.md, Tests): CI must prove signing works, not quietly skip it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def require_ssh_keygen() -> str:
    """The ssh-keygen executable; fail under CI=true, skip elsewhere, when it is missing."""
    exe = shutil.which("ssh-keygen")
    if exe is None:
        message = "ssh-keygen is missing (Debian: apt-get install openssh-client)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return exe


def make_key(directory: Path, principal: str) -> Path:
    """An unencrypted ed25519 key ``directory/<principal>`` with ``principal`` as its comment."""
    key = Path(directory) / principal
    subprocess.run(
        [require_ssh_keygen(), "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", principal],
        check=True,
        capture_output=True,
    )
    return key


def allowed_signers(directory: Path, *keys: Path, namespaces: str = "runbook-record") -> Path:
    """An allowed_signers file trusting each key for its comment, in ``namespaces``."""
    path = Path(directory) / "allowed_signers"
    lines = []
    for key in keys:
        public = key.with_name(key.name + ".pub").read_text(encoding="utf-8").split()
        lines.append(f'{public[2]} namespaces="{namespaces}" {public[0]} {public[1]}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

"""What makes a record trustworthy beyond its hashes: a signing key and a witness.

Configured by ``--signing-key`` / ``RUNBOOK_SIGNING_KEY``, ``--allowed-signers`` /
``RUNBOOK_ALLOWED_SIGNERS`` and ``--witness`` / ``RUNBOOK_WITNESS`` (DESIGN.md §5);
the variable names are spelled here once. :meth:`Evidence.open` proves both
work — the key signs a probe (and is found in the allowed signers when given),
the witness can be appended to — before anything runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from . import witness as wit
from .signing import Signer, open_signer

SIGNING_KEY_ENV = "RUNBOOK_SIGNING_KEY"
ALLOWED_SIGNERS_ENV = "RUNBOOK_ALLOWED_SIGNERS"
WITNESS_ENV = "RUNBOOK_WITNESS"


@dataclass(frozen=True)
class Attestation:
    """A proven signer and witness, ready for sealing."""

    signer: Signer | None = None
    witness: str | None = None
    """Absolute path of the witness file."""


@dataclass(frozen=True)
class Evidence:
    """The evidence settings as given (paths), before they are proven."""

    signing_key: str | None = None
    allowed_signers: str | None = None
    witness: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Evidence:
        """The settings from ``RUNBOOK_SIGNING_KEY``, ``…_ALLOWED_SIGNERS`` and ``…_WITNESS``."""
        env = os.environ if environ is None else environ
        return cls(
            env.get(SIGNING_KEY_ENV) or None,
            env.get(ALLOWED_SIGNERS_ENV) or None,
            env.get(WITNESS_ENV) or None,
        )

    def open(self) -> Attestation:
        """Prove the key signs and the witness takes lines; raise RecordError (exit 2) if not."""
        signer = open_signer(self.signing_key, self.allowed_signers) if self.signing_key else None
        witness = os.path.abspath(os.path.expanduser(self.witness)) if self.witness else None
        if witness:
            wit.probe(witness)
        return Attestation(signer, witness)

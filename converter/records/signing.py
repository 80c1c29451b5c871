"""Signed records: OpenSSH's ``ssh-keygen -Y`` over ``manifest.json``, namespace ``runbook-record``.

The manifest lists the SHA-256 of every other file of a record and of the
previous manifest, so one signature over its bytes covers the record and its
place in the chain. Keys are ordinary OpenSSH keys: ``-f`` names a private key,
or a public key whose private half is in ``ssh-agent`` (``SSH_AUTH_SOCK``).
Verification uses an OpenSSH ``allowed_signers`` file (``man ssh-keygen``,
ALLOWED SIGNERS): ``-Y find-principals`` names the signer, ``-Y verify`` proves
the signature for that principal.

No evidence, no execution: :func:`open_signer` signs a probe before a run starts,
so a key that cannot sign stops the run before its record directory exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import RecordError

NAMESPACE = "runbook-record"
APPROVAL_NAMESPACE = "runbook-approval"
"""Approvals of a plan (:mod:`.plans`): a record signature can never pass for one."""
_PROBE = b"runbook-record signing probe\n"
_TIMEOUT_S = 60.0


class SigningError(RecordError):
    """A key cannot sign, or ssh-keygen is missing (exit 2: nothing runs)."""


@dataclass(frozen=True)
class Signer:
    """A key proven to sign, and who it belongs to."""

    key: str
    """Private key file, or a public key file whose private half is in ssh-agent."""
    principal: str
    """From the allowed signers when given, else the key's comment: the recorded operator."""
    fingerprint: str
    """``SHA256:…`` of the public key."""

    def sign(self, data: bytes) -> str:
        """The armored ``-----BEGIN SSH SIGNATURE-----`` text over ``data``."""
        return sign_bytes(self.key, data)

    def sign_as(self, data: bytes, namespace: str) -> str:
        """The signature over ``data`` in another namespace (an approval)."""
        return sign_bytes(self.key, data, namespace)

    def stamp(self) -> dict[str, str]:
        """What a manifest says about its signer (checked against the signature by verify)."""
        return {
            "principal": self.principal,
            "fingerprint": self.fingerprint,
            "namespace": NAMESPACE,
        }


def open_signer(
    key: str | os.PathLike[str],
    allowed_signers: str | None = None,
    namespace: str = NAMESPACE,
) -> Signer:
    """Prove ``key`` signs (a probe signature) and find its principal, or raise SigningError."""
    path = Path(key).expanduser()
    if not path.is_file():
        raise SigningError(
            "signing key not found (--signing-key / RUNBOOK_SIGNING_KEY)", path=str(path)
        )
    probe = sign_bytes(str(path), _PROBE, namespace)
    fingerprint, comment = _fingerprint(str(path))
    if allowed_signers is None:
        return Signer(str(path), comment or fingerprint, fingerprint)
    with tempfile.TemporaryDirectory(prefix="runbook-sig-") as tmp:
        sig = Path(tmp) / "probe.sig"
        sig.write_text(probe, encoding="utf-8")
        principal, problem = check_signature(_PROBE, str(sig), allowed_signers, namespace)
    if principal is None:
        raise SigningError(
            f"key {fingerprint} cannot sign for anyone in the allowed signers "
            f"{allowed_signers}: {problem}",
            path=str(path),
        )
    return Signer(str(path), principal, fingerprint)


def sign_bytes(key: str, data: bytes, namespace: str = NAMESPACE) -> str:
    """``ssh-keygen -Y sign -f KEY -n NAMESPACE`` over ``data``; the signature text."""
    with tempfile.TemporaryDirectory(prefix="runbook-sig-") as tmp:
        message = Path(tmp) / "message"
        message.write_bytes(data)
        result = _ssh_keygen("-Y", "sign", "-f", key, "-n", namespace, str(message))
        signature = message.with_name(message.name + ".sig")
        if result.returncode != 0 or not signature.is_file():
            raise SigningError(
                f"ssh-keygen cannot sign with this key: {_why(result)} "
                "(a passphrase-protected key belongs in ssh-agent)",
                path=key,
            )
        return signature.read_text(encoding="utf-8")


def require_allowed_signers(allowed_signers: str) -> None:
    """Raise SigningError (exit 2) unless ``allowed_signers`` is a readable file: ssh-keygen
    given a missing file or a directory says only that the signature does not verify, so
    every valid signature would be reported as a failure."""
    path = Path(allowed_signers).expanduser()
    if not path.is_file() or not os.access(path, os.R_OK):
        what = "is a directory" if path.is_dir() else "is not a readable file"
        raise SigningError(
            f"the allowed signers {what} (--allowed-signers / RUNBOOK_ALLOWED_SIGNERS)",
            path=str(allowed_signers),
        )


def check_signature(
    data: bytes, signature: str, allowed_signers: str, namespace: str = NAMESPACE
) -> tuple[str | None, str]:
    """(principal, "") when ``signature`` (a file) over ``data`` verifies, else (None, why not)."""
    require_allowed_signers(allowed_signers)
    found = _ssh_keygen("-Y", "find-principals", "-s", signature, "-f", allowed_signers)
    principals = [
        p.strip() for p in found.stdout.decode(errors="replace").splitlines() if p.strip()
    ]
    if found.returncode != 0 or not principals:
        return None, "signed by a key that is not in the allowed signers"
    for principal in principals:
        result = _ssh_keygen(
            "-Y",
            "verify",
            "-f",
            allowed_signers,
            "-I",
            principal,
            "-n",
            namespace,
            "-s",
            signature,
            data=data,
        )
        if result.returncode == 0:
            return principal, ""
    return None, f"signature does not verify for {', '.join(principals)} (changed after signing)"


def _fingerprint(key: str) -> tuple[str, str]:
    """(``SHA256:…``, comment) of a key file, from ``ssh-keygen -l``."""
    result = _ssh_keygen("-l", "-f", key)
    fields = result.stdout.decode(errors="replace").split()
    if result.returncode != 0 or len(fields) < 2:
        raise SigningError(f"not an OpenSSH key: {_why(result)}", path=key)
    comment = " ".join(fields[2:-1]) if len(fields) > 3 else ""
    return fields[1], "" if comment == "no comment" else comment


def _ssh_keygen(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise SigningError("ssh-keygen is not installed (Debian: apt-get install openssh-client)")
    try:
        return subprocess.run(
            [exe, *args],
            input=data if data is not None else b"",
            capture_output=True,
            timeout=_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SigningError(
            f"ssh-keygen {' '.join(args[:2])} did not answer within "
            f"{_TIMEOUT_S:.0f} s (waiting for a passphrase?)"
        ) from None


def _why(result: subprocess.CompletedProcess[bytes]) -> str:
    text = (result.stderr or result.stdout).decode(errors="replace").strip()
    return text.splitlines()[-1] if text else f"exit status {result.returncode}"

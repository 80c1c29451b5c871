"""Commands that destroy data or configuration: the ``destructive-unconfirmed`` lint check.

Matched on :attr:`ShellText.commands` (comments blanked), so ``# rm -rf /tmp`` in a
comment is not a command. A step holding one needs a confirmation checklist.
"""

from __future__ import annotations

import re

from .shell import ShellText

# Commands that destroy data; matched case-insensitively on the commented-out-free code.
DESTRUCTIVE = (
    re.compile(
        r"\bdrop\s+(?:table|index|database|schema|column|view|materialized\s+view|user|role|trigger"
        r"|function|sequence|constraint|type|extension|tablespace|keyspace|collection)\b",
        re.IGNORECASE,
    ),
    re.compile(r"(?<![\w.-])truncate(?![\w-])", re.IGNORECASE),
    re.compile(r"\bkubectl\b[^\n;&|]*?(?<![\w-])delete(?![\w-])"),
    re.compile(r"\bpg_terminate_backend\b"),
    re.compile(r"(?<![\w-])dd\b[^\n;&|]*?\bof="),
    re.compile(r"(?<![\w./-])mkfs(?:\.\w+)?\b"),
    re.compile(r"(?<![\w./-])find\b[^\n;&|]*?[ \t]-delete\b"),
    re.compile(r"\bkubectl\b[^\n;&|]*?(?<![\w-])drain(?![\w-])"),
    re.compile(r"\bterraform\b[^\n;&|]*?(?<![\w-])(?:destroy|-destroy)(?![\w-])"),
)
RM = re.compile(r"(?<![\w./-])rm((?:[ \t]+--?[\w-]+)+)")
# A statement that deletes every row: DELETE FROM t with no WHERE before its end (; or quote).
DELETE_ALL = re.compile(r"(?i)\bdelete\s+from\s+[^;\"'`]*")
MV = re.compile(r"(?<![\w./-])mv\b[^\n;&|]*")
# Keys, certificates and configuration: overwriting one with mv loses the original.
PRECIOUS = re.compile(
    r"(?i)(?:\.(?:pem|key|crt|cer|p12|pfx|jks|conf|cfg|cnf|ini|ya?ml|json|toml|env|properties)"
    r"|(?:^|/)(?:id_(?:rsa|dsa|ecdsa|ed25519)|authorized_keys|known_hosts|kubeconfig|config"
    r"|\.env|shadow|passwd|sudoers|fstab|crontab))[\"']?$"
)


def destructive_commands(text: ShellText) -> list[tuple[int, str]]:
    """(offset, what) for every destructive command in the block."""
    found = [
        (m.start(), _label(m.group()))
        for pattern in DESTRUCTIVE
        for m in pattern.finditer(text.commands)
    ]
    for m in RM.finditer(text.commands):
        flags = m.group(1).split()
        short = "".join(f[1:] for f in flags if not f.startswith("--"))
        recursive = "r" in short.lower() or "--recursive" in flags
        force = "f" in short or "--force" in flags
        if recursive and force:
            found.append((m.start(), "rm " + " ".join(flags)))
    found += [
        (m.start(), "DELETE FROM without WHERE")
        for m in DELETE_ALL.finditer(text.commands)
        if not re.search(r"(?i)\bwhere\b", m.group())
    ]
    found += [
        (m.start(), "mv onto " + target)
        for m in MV.finditer(text.commands)
        if (target := _mv_onto_precious(m.group()))
    ]
    return sorted(found)


def _mv_onto_precious(command: str) -> str | None:
    """The key or config file an ``mv`` overwrites (``-n``/``-i``/``-b`` keep it), else None."""
    words = command.split()[1:]
    flags = [w for w in words if w.startswith("-")]
    if any(
        f in ("-n", "-i", "-b", "--no-clobber", "--interactive") or f.startswith("--backup")
        for f in flags
    ):
        return None
    if any(f.startswith("-") and not f.startswith("--") and set(f[1:]) & set("nib") for f in flags):
        return None
    operands = [w for w in words if not w.startswith("-")]
    if len(operands) < 2 or "-t" in flags or any(f.startswith("--target") for f in flags):
        return None
    target = operands[-1]
    return target if PRECIOUS.search(target) else None


def _label(matched: str) -> str:
    words = matched.split()
    if words[0] == "kubectl":
        return "kubectl drain" if "drain" in words else "kubectl delete"
    if words[0] in ("dd", "find", "terraform"):
        return {"dd": "dd of=", "find": "find -delete", "terraform": "terraform destroy"}[words[0]]
    return " ".join(words).upper() if words[0].lower() in ("drop", "truncate") else words[0]

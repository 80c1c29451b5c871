"""A step's state across steps: the ``BASH_ENV`` prelude whose EXIT trap dumps it, and its parsing.

The step's shell writes its final directory and its exported variables to a state file
at exit, with builtins only (no fork); the next step starts there with those variables.
The prelude and the state files live in one private directory per process (the
kernel), made on first use, instead of a temporary directory per step.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator

_STATE_TAIL = b"\0__RUNBOOK_STATE_END__\0"
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SHELL_OPTIONS = {"SHELLOPTS", "BASHOPTS"}
# Maintained by bash itself (a non-interactive bash unsets PS1 and PS2 on its own).
_INTERNAL = {"BASH", "PWD", "OLDPWD", "SHLVL", "_", "PS1", "PS2", *_SHELL_OPTIONS}

# Sourced by the step's shell. It first waits at the gate: one line on the inherited fd
# __RUNBOOK_GATE once the kernel's reaper watches this group, end of file if the kernel
# died first (then nothing runs). Its EXIT trap dumps the final directory (NUL-ended),
# the exported variables as ``export -p`` prints them, and an end marker, into a file of
# its own (made here, never truncated: truncating a file that holds data makes ext4 start
# writing it back). ``trap`` is shadowed so a script's own EXIT trap runs after the dump
# instead of replacing it; subshells skip the dump (BASHPID check). Builtins only, so the
# dump forks nothing: one ``export -p`` costs a fifth of a millisecond less per step than
# listing the names (``compgen -e``) and printing each value, and says what a child
# process receives (no arrays, a nameref's own value). It runs in the C locale (for that
# command only; ``builtin`` keeps the assignment temporary in posix mode too): there bash
# escapes every byte above 127, so no multibyte character (Big5's 許 ends in a backslash)
# reaches the parser raw. Each command has its own redirection, so a DEBUG trap the
# script left to functions (``set -T``) prints where the script's output goes, not into
# the dump.
_PRELUDE = r"""
builtin read -r -u "$__RUNBOOK_GATE" __runbook_go || builtin exit 126
exec {__RUNBOOK_GATE}<&-  # not `builtin exec`: that would close it for itself only
__runbook_state=$__RUNBOOK_STATE
unset __RUNBOOK_STATE __RUNBOOK_GATE __runbook_go BASH_ENV
__runbook_dump() {
  local -; set +eux
  [[ $BASHPID == "$$" ]] || return "$1"
  builtin umask 077  # the step's umask (0222) must not make the state file unwritable
  builtin printf '%s\0' "$PWD" >"$__runbook_state"
  LC_ALL=C builtin export -p >>"$__runbook_state"
  builtin printf '\0%s\0' __RUNBOOK_STATE_END__ >>"$__runbook_state"
  return "$1"
}
__runbook_exit='{ __runbook_dump "$?" && :; } 2>/dev/null'
trap() {
  { local -; set +x; } 2>/dev/null
  builtin trap "$@" || return
  local __runbook_t __runbook_user=; __runbook_t=$(builtin trap -p EXIT)
  [[ $__runbook_t != *__runbook_dump* ]] || return 0
  if [[ -n $__runbook_t ]]; then eval "set -- $__runbook_t"; __runbook_user=$3; fi
  builtin trap -- "$__runbook_exit"$'\n'"$__runbook_user" EXIT
}
builtin trap -- "$__runbook_exit" EXIT
if [[ -n ${__RUNBOOK_USER_BASH_ENV-} ]]; then
  export BASH_ENV=$__RUNBOOK_USER_BASH_ENV; unset __RUNBOOK_USER_BASH_ENV; . "$BASH_ENV"
fi
if [[ -n ${__RUNBOOK_POSIXLY_CORRECT+set} ]]; then  # last: it turns on posix mode
  export POSIXLY_CORRECT=$__RUNBOOK_POSIXLY_CORRECT; unset __RUNBOOK_POSIXLY_CORRECT
fi
"""


_PRELUDE_FILE = "prelude.sh"
STATE_DIR_PREFIX = "runbook-steps-"
_state_lock = threading.Lock()
_state_dirs: dict[int, str] = {}  # pid → this process's private state directory
_state_serial = itertools.count(1)


def state_dir() -> str:
    """This process's private directory holding the prelude and the steps' state dumps.

    One per kernel (made on first use, 0700, removed at exit, and by the kernel's reaper
    when the kernel is killed), instead of a temporary directory per step; made again if
    something (a tmp cleaner) removed it.
    """
    with _state_lock:
        path = _state_dirs.get(os.getpid())
        if path is None or not os.path.isfile(os.path.join(path, _PRELUDE_FILE)):
            path = tempfile.mkdtemp(prefix=STATE_DIR_PREFIX)
            with open(os.path.join(path, _PRELUDE_FILE), "w", encoding="utf-8") as f:
                f.write(_PRELUDE)
            _state_dirs[os.getpid()] = path
            atexit.register(shutil.rmtree, path, ignore_errors=True)
        return path


@contextlib.contextmanager
def state_file(directory: str) -> Iterator[str]:
    """A state-dump path unique to one call (steps may run from several threads)."""
    path = os.path.join(directory, f"state.{next(_state_serial)}")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def shell_environment(
    env: dict[str, str], directory: str, state_path: str, gate: int
) -> dict[str, str]:
    """The step shell's environment: ``env`` plus what the prelude reads (and unsets).

    A ``BASH_ENV`` of the user's is moved aside; the prelude sources it after its own.
    A bash that starts in posix mode reads no ``BASH_ENV`` at all: no gate, no state dump.
    So ``POSIXLY_CORRECT`` (a step may export it for GNU tools) is moved aside too, and
    the prelude exports it last, which turns posix mode on for the script as the step
    asked; ``SHELLOPTS`` and ``BASHOPTS`` (bash's own, exported by a parent shell) are
    dropped: they would set options, posix among them, before the prelude runs.
    """
    env = {k: v for k, v in env.items() if k not in _SHELL_OPTIONS}
    if "POSIXLY_CORRECT" in env:
        env["__RUNBOOK_POSIXLY_CORRECT"] = env.pop("POSIXLY_CORRECT")
    if "BASH_ENV" in env:
        env["__RUNBOOK_USER_BASH_ENV"] = env.pop("BASH_ENV")
    env["BASH_ENV"] = os.path.join(directory, _PRELUDE_FILE)
    env["__RUNBOOK_STATE"] = state_path
    env["__RUNBOOK_GATE"] = str(gate)
    return env


@functools.cache
def bash() -> str:
    """The bash that steps and the reaper run, looked up once per process (PATH is the
    kernel's, not the step's); ``/bin/bash`` when PATH has none."""
    return shutil.which("bash") or "/bin/bash"


def read_state(
    path: str, sent_env: dict[str, str], cwd: str
) -> tuple[str, dict[str, str], tuple[str, ...]]:
    """Parse the EXIT trap's dump: the directory, the exported variables that are new or
    changed, and the names the step unset (or stopped exporting). Without a complete dump,
    nothing is carried.

    The file holds the directory and a NUL, what ``export -p`` printed, then a NUL, the end
    marker and a NUL.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return cwd, {}, ()
    directory, _, rest = data.partition(b"\0")
    if not rest.endswith(_STATE_TAIL):
        return cwd, {}, ()
    pairs = exported(rest[: -len(_STATE_TAIL)])
    exports = {k: v for k, v in pairs.items() if not _is_internal(k) and sent_env.get(k) != v}
    # Only a shell variable can be unset: bash passes other names (``a-b``) through unlisted.
    unset = tuple(
        k for k in sent_env if k not in pairs and _SHELL_NAME.match(k) and not _is_internal(k)
    )
    return os.fsdecode(directory), exports, unset


class StateDumpError(RuntimeError):
    """The dump holds something this parser does not read: the step then carries nothing
    and fails (:mod:`.magic`), rather than pass a value read wrongly to the next step.
    Its message names no value (a value may be a secret)."""


# One line of ``export -p``: declare -FLAGS NAME (in posix mode: export NAME, or
# export -a NAME for an array), then =VALUE unless the variable has none. A scalar's VALUE
# is "double-quoted", or $'ANSI-C quoted' when it holds a byte that is not printable in
# bash's locale (a newline among them), so a line never holds a raw newline.
_DECLARATION = re.compile(
    rb"(?:declare -[a-zA-Z]+|export(?: -[aA])?)"
    rb" (?P<name>[^=\s]+)"  # bash prints any name it holds (été, set in a Latin-1 locale)
    rb"(?:"
    rb'="(?P<double>(?:[^"\\\n]|\\[^\n])*)"'  # "...": no raw newline, \x pairs
    rb"|=\$'(?P<ansi>(?:[^'\\\n]|\\[^\n])*)'"  # $'...'
    rb"|=(?P<array>\([^\n]*\))"  # an array: bash passes none to a child
    rb")?\n"
)
_DOUBLE_ESCAPE = re.compile(rb"\\([$`\"\\])")  # inside "...", other backslashes stay
_ANSI_ESCAPE = re.compile(rb"\\([0-7]{1,3}|x[0-9A-Fa-f]{1,2}|.)")
_ANSI_LETTERS = {
    b"a": b"\a", b"b": b"\b", b"e": b"\x1b", b"E": b"\x1b", b"f": b"\f", b"n": b"\n",
    b"r": b"\r", b"t": b"\t", b"v": b"\v", b"\\": b"\\", b"'": b"'", b'"': b'"', b"?": b"?",
}  # fmt: skip


def exported(text: bytes) -> dict[str, str]:
    """What a child of the shell receives, from its ``export -p``: name → value.

    Read as bash reads it back: in ``"…"`` a backslash before ``$ ` " \\`` escapes it, any
    other stays; ``$'…'`` decodes bash's ANSI-C escapes (those its ``ansic_quote`` writes,
    and ``\\xHH``). A variable without a value, and arrays (bash passes none to a child),
    are left out. Anything else raises :class:`StateDumpError`: a value read wrongly would
    be carried into the next step without a word.
    """
    found: dict[str, str] = {}
    at = 0
    while at < len(text):
        line = _DECLARATION.match(text, at)
        if line is None:
            raise StateDumpError(f"export -p: unexpected text at byte {at}")  # no value: a secret
        at = line.end()
        double, ansi = line["double"], line["ansi"]
        if double is not None:
            value = _DOUBLE_ESCAPE.sub(rb"\1", double) if b"\\" in double else double
        elif ansi is not None:
            value = _ansi_c(ansi) if b"\\" in ansi else ansi
        else:  # an array, or NAME without a value: not in a child's environment
            continue
        found[os.fsdecode(line["name"])] = os.fsdecode(value)
    return found


def _ansi_c(body: bytes) -> bytes:
    def one(escape: re.Match[bytes]) -> bytes:
        code = escape.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        if code[:1] == b"x" and len(code) > 1:
            return bytes([int(code[1:], 16)])
        if code in _ANSI_LETTERS:
            return _ANSI_LETTERS[code]
        raise StateDumpError("export -p: an escape bash does not write")

    return _ANSI_ESCAPE.sub(one, body)


def _is_internal(name: str) -> bool:
    """Variables bash maintains itself (or we add), which must not leak into the next step."""
    return name in _INTERNAL or name.startswith(("BASH_", "__RUNBOOK", "__runbook"))

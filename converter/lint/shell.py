"""What a shell block expands, assigns and runs: the shell half of ``runbook lint``.

Not a shell parser: a small lexer that knows enough bash quoting to tell which
``$VAR`` bash expands (not inside single quotes, ``$'...'`` or a quoted heredoc such
as ``<<'EOF'``; yes inside double quotes and unquoted heredoc bodies), where comments
are, and which names a block assigns. Pattern checks (credentials, destructive
commands, placeholders) read :attr:`ShellText.commands`, the block with comments
blanked, so ``# rm -rf /tmp`` in a comment is not a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Set by bash, the login environment or the runbook runtime (RUNBOOK_RUN_DIR).
# fmt: off
ENVIRONMENT = frozenset({
    "HOME", "USER", "LOGNAME", "PATH", "PWD", "OLDPWD", "SHELL", "SHLVL", "LANG", "LANGUAGE",
    "TERM", "TMPDIR", "TZ", "HOSTNAME", "HOSTTYPE", "OSTYPE", "MACHTYPE", "UID", "EUID", "PPID",
    "GROUPS", "RANDOM", "SRANDOM", "LINENO", "SECONDS", "BASHPID", "FUNCNAME", "IFS", "PS1", "PS2",
    "PS3", "PS4", "PIPESTATUS", "REPLY", "OPTARG", "OPTIND", "OPTERR", "MAPFILE", "EPOCHSECONDS",
    "EPOCHREALTIME", "COLUMNS", "LINES", "EDITOR", "VISUAL", "PAGER", "DISPLAY", "MAIL",
    "RUNBOOK_RUN_DIR",
})
# fmt: on
ENVIRONMENT_PREFIXES = ("BASH", "LC_", "XDG_")
SPECIAL_PARAMETERS = frozenset("@*#?$!-0123456789")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
WORD_START = " \t\n;&|()<>"
TOLERANT_OPERATORS = (":-", ":=", ":?", ":+", "-", "=", "?", "+")  # the author handles "unset"


def is_environment_variable(name: str) -> bool:
    """Whether bash or the runtime sets ``name`` without the runbook doing anything."""
    return name in ENVIRONMENT or name.startswith(ENVIRONMENT_PREFIXES)


@dataclass(frozen=True)
class Name:
    """A variable name and the character offset in the block where it appears."""

    name: str
    offset: int


@dataclass(frozen=True)
class ShellText:
    """A shell block's code with what the lexer learnt about it."""

    code: str
    uses: tuple[Name, ...]  # expansions bash performs, in order
    defs: tuple[Name, ...]  # names the block assigns, exports, reads or loops over
    commands: str  # the code with comments blanked and line continuations joined (same offsets)

    def line_of(self, offset: int) -> int:
        """The 0-based line of the block that holds character ``offset``."""
        return self.code.count("\n", 0, offset)

    def defined_before(self, name: str, offset: int) -> bool:
        """Whether the block assigns ``name`` before ``offset``."""
        return any(d.name == name and d.offset < offset for d in self.defs)


@dataclass
class _Frame:
    kind: str  # "code", "dq" (double quotes) or "heredoc" (unquoted body)
    closer: str | None = None  # what ends a nested code frame: ")", "`" or "}"
    start: int = 0
    depth: int = 0  # open parentheses inside a $( ) frame
    arithmetic: bool = False


@dataclass
class _Lexer:
    code: str
    uses: list[Name] = field(default_factory=list)
    defs: list[Name] = field(default_factory=list)
    comments: list[tuple[int, int]] = field(default_factory=list)
    literals: list[tuple[int, int]] = field(default_factory=list)
    pending: list[tuple[str, bool, bool]] = field(default_factory=list)

    def run(self, start: int, end: int, bottom: _Frame) -> None:
        stack = [bottom]
        i = start
        while i < end:
            frame, char = stack[-1], self.code[i]
            if char == "\\":
                i += 2
            elif frame.kind == "code":
                i = self._code(i, end, frame, stack)
            elif char == "$":
                i = self._dollar(i, end, frame, stack)
            elif char == "`":
                stack.append(_Frame("code", "`", i + 1))
                i += 1
            elif char == '"' and frame.kind == "dq":
                self.literals.append((frame.start, i))
                stack.pop()
                i += 1
            else:
                i += 1

    def _code(self, i: int, end: int, frame: _Frame, stack: list[_Frame]) -> int:
        code, char = self.code, self.code[i]
        if char == "'":
            close = code.find("'", i + 1, end)
            close = end if close < 0 else close
            self.literals.append((i + 1, close))
            return close + 1
        if char == '"':
            stack.append(_Frame("dq", start=i + 1))
        elif char == "$":
            return self._dollar(i, end, frame, stack)
        elif char == "`" and frame.closer == "`" or char == "}" and frame.closer == "}":
            stack.pop()
        elif char == "`":
            stack.append(_Frame("code", "`", i + 1))
        elif char == "(":
            frame.depth += 1
        elif char == ")":
            if frame.depth == 0 and frame.closer == ")":
                stack.pop()
            frame.depth = max(0, frame.depth - 1)
        elif char == "#" and self._starts_word(i) and not frame.arithmetic and frame.closer != "}":
            newline = code.find("\n", i, end)
            newline = end if newline < 0 else newline
            self.comments.append((i, newline))
            return newline
        elif (
            char == "<"
            and code.startswith("<<", i)
            and not code.startswith("<<<", i)
            and not frame.arithmetic
        ):
            return self._heredoc_operator(i + 2, end)
        elif char == "\n" and self.pending:
            return self._heredoc_bodies(i + 1, end)
        return i + 1

    def _starts_word(self, i: int) -> bool:
        return i == 0 or self.code[i - 1] in WORD_START

    def _dollar(self, i: int, end: int, frame: _Frame, stack: list[_Frame]) -> int:
        code = self.code
        following = code[i + 1] if i + 1 < end else ""
        if following == "'" and frame.kind == "code":  # $'...' is never expanded
            j = i + 2
            while j < end and code[j] != "'":
                j += 2 if code[j] == "\\" else 1
            self.literals.append((i + 2, min(j, end)))
            return j + 1
        if following == "(":
            stack.append(_Frame("code", ")", i + 2, arithmetic=code.startswith("((", i + 1)))
            return i + 2
        if following == "{":
            return self._braced(i, end, stack)
        name = NAME.match(code, i + 1)
        if name:
            self.uses.append(Name(name.group(), i))
            return name.end()
        return i + 2 if following in SPECIAL_PARAMETERS else i + 1

    def _braced(self, i: int, end: int, stack: list[_Frame]) -> int:
        """``${...}``: a use unless the author supplies a default or an error for unset."""
        code = self.code
        j = i + 2
        prefix = code[j] if j < end and code[j] in "!#" else ""
        j += len(prefix)
        stack.append(_Frame("code", "}", j))
        name = NAME.match(code, j)
        if not name:
            return j
        rest = code[name.end() : name.end() + 2]
        operator = next((op for op in TOLERANT_OPERATORS if rest.startswith(op)), None)
        if prefix == "!" and rest[:1] in ("*", "@"):
            return name.end()
        if operator in (":=", "="):
            self.defs.append(Name(name.group(), i))
        elif operator is None or prefix == "#":
            self.uses.append(Name(name.group(), i))
        return name.end()

    def _heredoc_operator(self, j: int, end: int) -> int:
        code = self.code
        strip_tabs = code.startswith("-", j)
        j += strip_tabs
        while j < end and code[j] in " \t":
            j += 1
        word_end = j
        while word_end < end and code[word_end] not in " \t\n;&|<>()":
            word_end += 1
        word = code[j:word_end]
        delimiter = word.replace("'", "").replace('"', "").replace("\\", "")
        if delimiter:
            self.pending.append((delimiter, word != delimiter, strip_tabs))
        return word_end

    def _heredoc_bodies(self, start: int, end: int) -> int:
        """Read the bodies announced on the line just ended; unquoted ones are expanded."""
        pending, self.pending = self.pending, []
        position = start
        for delimiter, quoted, strip_tabs in pending:
            body_start, line_start = position, position
            while line_start < end:
                line_end = self.code.find("\n", line_start, end)
                line_end = end if line_end < 0 else line_end
                line = self.code[line_start:line_end].rstrip("\r")
                if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                    break
                line_start = line_end + 1
            else:
                return start  # no terminator: not a heredoc after all (e.g. ``$((1 << 2))``)
            self.literals.append((body_start, line_start))
            if not quoted:
                self.run(body_start, line_start, _Frame("heredoc"))
            position = min(end, line_end + 1)
        return position


def scan(code: str) -> ShellText:
    """Lex one shell block."""
    lexer = _Lexer(code)
    lexer.run(0, len(code), _Frame("code"))
    commands = _blank(code, lexer.comments, " ").replace("\\\n", "  ")
    bare = _blank(commands, lexer.literals, ".")
    defs = sorted({*lexer.defs, *_assignments(bare)}, key=lambda n: (n.offset, n.name))
    return ShellText(code, tuple(lexer.uses), tuple(defs), commands)


def _blank(text: str, spans: list[tuple[int, int]], fill: str) -> str:
    """Overwrite the spans with ``fill``, keeping newlines so offsets and lines stay put."""
    chars = list(text)
    for start, end in spans:
        for index in range(start, min(end, len(chars))):
            if chars[index] != "\n":
                chars[index] = fill
    return "".join(chars)


ASSIGNMENT = re.compile(r"(?<![^\s;&|(){}!])([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]\n]*\])?\+?=(?!=)")
SEGMENT = re.compile(r"[^;&|\n(){}]+")
LEADING_WORDS = frozenset({"do", "then", "else", "elif", "if", "while", "until", "!", "time"})
DECLARATIONS = frozenset({"export", "local", "declare", "typeset", "readonly"})
READ_OPTIONS_WITH_VALUE = "adinNptu"


def _assignments(bare: str) -> list[Name]:
    """``VAR=``, ``export VAR``, ``read VAR``, ``for VAR in``… in a block with strings blanked."""
    found = [Name(m.group(1), m.start(1)) for m in ASSIGNMENT.finditer(bare)]
    for segment in SEGMENT.finditer(bare):
        words = [
            (m.group(), segment.start() + m.start()) for m in re.finditer(r"\S+", segment.group())
        ]
        while words and (words[0][0] in LEADING_WORDS or ASSIGNMENT.match(words[0][0])):
            words.pop(0)
        if words:
            found.extend(
                Name(w, at) for w, at in _declared_by(words[0][0], words[1:]) if NAME.fullmatch(w)
            )
    return found


def _declared_by(command: str, args: list[tuple[str, int]]) -> list[tuple[str, int]]:
    if command in DECLARATIONS:
        return [(w.split("=")[0].split("[")[0], at) for w, at in args if not w.startswith("-")]
    if command in ("for", "select"):
        return args[:1]
    if command == "getopts":
        return args[1:2]
    if command == "printf" and args[:1] and args[0][0] == "-v":
        return args[1:2]
    if command in ("read", "mapfile", "readarray"):
        return _read_names(command, args)
    return []


def _read_names(command: str, args: list[tuple[str, int]]) -> list[tuple[str, int]]:
    names: list[tuple[str, int]] = []
    with_value = READ_OPTIONS_WITH_VALUE if command == "read" else "dnOsuCc"
    index = 0
    while index < len(args):
        word, at = args[index]
        if word.startswith(("<", ">")):
            break
        if word.startswith("-") and len(word) > 1:
            letters = word[1:]
            hit = next((k for k, letter in enumerate(letters) if letter in with_value), None)
            if hit is not None:
                value = letters[hit + 1 :] or (args[index + 1][0] if index + 1 < len(args) else "")
                if letters[hit] == "a":  # read -a ARRAY
                    names.append((value, at))
                index += 1 if letters[hit + 1 :] else 2
                continue
        else:
            names.append((word, at))
        index += 1
    if command != "read":
        return names[-1:] or [("MAPFILE", args[0][1] if args else 0)]
    return names


# A value that starts with "$" (or a backquote) comes from the environment: not a credential.
# fmt: off
CREDENTIALS = (
    ("Authorization header with a literal value", re.compile(
        r"(?i)\b(?:authorization|proxy-authorization|x-api-key|x-auth-token|api-key|private-token)"
        r"\s*:\s*(?:(?:bearer|basic|oauth|token|bot|digest|apikey)\s+)?[\"']?(?P<value>[^\s\"']+)")),
    ("password in a URL", re.compile(
        r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]*:(?P<value>[^\s/@'\"]+)@")),
    ("literal --password", re.compile(r"(?i)--(?:password|passwd)=[\"']?(?P<value>[^\s\"']+)")),
    ("secret assigned a literal value", re.compile(
        r"(?i)(?<![\w-])[a-z_][a-z0-9_]*?(?:password|passwd|_pwd|secret|secret_key|secret_access_key"
        r"|token|api_key|apikey)=[\"']?(?P<value>[^\s\"';&|)]*)")),
    ("AWS access key id", re.compile(r"\b(?P<value>(?:AKIA|ASIA)[0-9A-Z]{16})\b")),
    ("AWS secret access key", re.compile(
        r"(?i)\baws_secret_access_key\b[\s\"']+(?P<value>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])")),
)
# fmt: on
AUTH_SCHEMES = frozenset({"bearer", "basic", "oauth", "token", "bot", "digest", "apikey"})


def credentials(text: ShellText) -> list[tuple[int, str]]:
    """(offset, what) for every credential written into the block as a literal."""
    found = []
    for what, pattern in CREDENTIALS:
        for m in pattern.finditer(text.commands):
            value = m.group("value")
            if value and not value.startswith(("$", "`")) and value.lower() not in AUTH_SCHEMES:
                found.append((m.start(), what))
    return sorted(found)

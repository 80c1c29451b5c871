"""Keep secrets out of every record file, whatever encoding they were printed in.

A runbook step can echo a token as-is, inside a URL (``https://u:TOKEN@host``),
percent-encoded, base64-encoded (HTTP basic auth, Kubernetes secrets), hex-dumped,
JSON-escaped or shell-quoted.  ``SecretMasker`` derives all those spellings from the
plain values once, compiles them into one regex alternation (longest first) and replaces
every occurrence by ``***``.  Overlapping occurrences are merged, so two secrets that
share characters cannot leave a readable remainder.

Base64 alignment: inside a longer base64 stream a secret starts at byte offset 0, 1 or 2
of a 3-byte group, and the characters that encode its first and last bits also depend on
the neighbouring bytes.  For each offset ``o`` we encode ``b"\\0" * o + secret`` and keep
only the *stable core*: characters ``ceil(8*o/6)`` to ``floor(8*(o+n)/6)`` whose six bits
all come from the secret.  Masking the core hides all but the two or three boundary
characters, which carry fewer than 8 bits of the secret and cannot reveal it.

Pattern hygiene: secrets made only of ``*`` (including the empty string) are ignored,
because masking them would mangle the ``***`` marker itself.  Short secrets are still
masked in plain form; a *derived* spelling shorter than 4 characters (e.g. the base64
core of a 2-character secret) is dropped, as it would match random text everywhere.

``MaskingStream`` masks live output that arrives in arbitrary chunks.  It emits at once
everything that cannot be part of an occurrence continuing into the next chunk, and holds
back only a tail that is a proper prefix of some pattern (at most ``max_len - 1``
characters, unless a complete occurrence overlaps that tail).  The concatenated output
of a stream is identical to ``mask()`` of the concatenated input, for every chunking.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MARK = "***"
MIN_DERIVED_LEN = 4

_PCT = re.compile(r"%[0-9A-F]{2}")


def _base64_forms(raw: bytes) -> set[str]:
    """Whole encodings (padded, unpadded) and the stable cores at the three alignments."""
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms.update((whole, whole.rstrip("=")))
        for offset in range(3):
            shifted = encode(b"\0" * offset + raw).decode("ascii")
            start = -(-8 * offset // 6)  # ceil: first char with no prefix bits
            end = (8 * (offset + len(raw))) // 6  # floor: last char with no suffix bits
            forms.add(shifted[start:end])
    return forms


_BASH_Q_SPECIAL = re.compile(r"""([ \t'"\\|&;()<>!{}*?\[\]^$`,])""")


def _bash_quotings(secret: str) -> set[str]:
    """How bash prints the value: ``printf %q`` (backslashes), ``declare -p`` (double
    quotes), ``set -x`` (single quotes, ``'\\''`` for a quote)."""
    q = _BASH_Q_SPECIAL.sub(r"\\\1", secret)
    if secret[:1] in ("~", "#"):
        q = "\\" + q
    double = re.sub(r'([$`"\\])', r"\\\1", secret)
    single = "'" + secret.replace("'", "'\\''") + "'"
    return {q, double, single}


def _wrapped(encoded: str, width: int) -> set[str]:
    """The lines of ``encoded`` wrapped at ``width`` (a secret printed alone through a tool
    that wraps its output), each masked on its own."""
    if len(encoded) <= width:
        return set()
    return {encoded[i : i + width] for i in range(0, len(encoded), width)}


def encodings(secret: str) -> set[str]:
    """Every spelling of ``secret`` that must not survive masking (empty set if ignored)."""
    if not secret.strip("*"):
        return set()
    raw = secret.encode("utf-8")
    derived: set[str] = set()
    for url in (quote(secret, safe=""), quote(secret), quote_plus(secret)):
        derived.add(url)
        derived.add(_PCT.sub(lambda m: m.group(0).lower(), url))
    derived |= _base64_forms(raw)
    derived |= {raw.hex(), raw.hex().upper()}
    derived |= {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    derived.add(shlex.quote(secret))
    derived |= _bash_quotings(secret)
    derived |= _wrapped(base64.b64encode(raw).decode("ascii"), 76)  # base64(1)'s lines
    derived |= _wrapped(raw.hex(), 60)  # xxd -p's lines
    forms = {d for d in derived if len(d) >= MIN_DERIVED_LEN}
    forms.add(secret)
    return forms


class SecretMasker:
    """Replaces every known secret, and its common encodings, by ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            forms |= encodings(secret)
        self.patterns: tuple[str, ...] = tuple(sorted(forms, key=lambda p: (-len(p), p)))
        self.max_len = len(self.patterns[0]) if self.patterns else 0
        # A lookahead finds an occurrence at *every* position, overlapping ones included;
        # alternatives are tried in order, so the longest pattern at a position wins.
        self._regex = (
            re.compile("(?=(" + "|".join(map(re.escape, self.patterns)) + "))")
            if self.patterns
            else None
        )
        self._by_first: dict[str, tuple[str, ...]] = {}
        for pattern in self.patterns:
            self._by_first[pattern[0]] = self._by_first.get(pattern[0], ()) + (pattern,)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Merged ``[start, end)`` ranges of ``text`` covered by occurrences (overlaps merged)."""
        merged: list[tuple[int, int]] = []
        if self._regex is None:
            return merged
        for match in self._regex.finditer(text):
            start, end = match.start(), match.start() + len(match.group(1))
            if merged and start < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def mask(self, text: str) -> str:
        """Return ``text`` with every occurrence of every pattern replaced by ``***``."""
        return _render(text, self.spans(text), len(text))

    def pending_start(self, text: str) -> int:
        """Earliest index whose suffix is a proper prefix of a pattern, else ``len(text)``."""
        for index in range(max(0, len(text) - self.max_len + 1), len(text)):
            tail = text[index:]
            for pattern in self._by_first.get(text[index], ()):
                if len(pattern) > len(tail) and pattern.startswith(tail):
                    return index
        return len(text)

    def stream(self) -> MaskingStream:
        """A chunk-wise masker for live output (one per output stream)."""
        return MaskingStream(self)


def _render(text: str, spans: list[tuple[int, int]], cut: int) -> str:
    """``text[:cut]`` with the given spans (all ending at or before ``cut``) replaced."""
    parts: list[str] = []
    position = 0
    for start, end in spans:
        if end > cut:
            break
        parts += (text[position:start], MARK)
        position = end
    parts.append(text[position:cut])
    return "".join(parts)


class MaskingStream:
    """Masks output that arrives in chunks split at arbitrary points."""

    def __init__(self, masker: SecretMasker) -> None:
        self._masker = masker
        self._buffer = ""

    @property
    def pending(self) -> str:
        """The raw text held back so far (never emit it unmasked)."""
        return self._buffer

    def feed(self, chunk: str) -> str:
        """Return the masked text that is safe to emit now; hold back a possible secret start."""
        text = self._buffer + chunk
        if not self._masker:
            return text
        spans = self._masker.spans(text)
        cut = self._masker.pending_start(text)
        # An occurrence that crosses the cut might merge with one that completes later.
        for start, end in spans:
            if start < cut < end:
                cut = start
                break
        self._buffer = text[cut:]
        return _render(text, spans, cut)

    def flush(self) -> str:
        """Return the rest, masked; the stream can be reused afterwards."""
        text, self._buffer = self._buffer, ""
        return self._masker.mask(text)

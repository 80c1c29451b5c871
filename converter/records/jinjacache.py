"""Jinja's compiled templates, kept in memory for the life of the process."""

from __future__ import annotations

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket

__all__ = ["COMPILED_TEMPLATES", "CompiledTemplates"]


class CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates, kept for the process.

    Every page has an exporter of its own (its filters hold the page's state), and each
    exporter made a Jinja environment that compiled the ``lab`` templates again: 40 of the
    45 ms a small record's page took. Jinja keys each entry by the template's name and
    stores the checksum of its source with it, so a changed template is compiled again;
    nothing is written to disk. Compiled code depends on the environment's settings too:
    only environments made alike (the record page's exporter) may share one cache.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()
"""The one cache of this process (record pages: :mod:`.nbpage`)."""

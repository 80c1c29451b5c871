"""Markdown → model: the first stage of the pipeline.

In order: ``blocks`` (markdown-it-py tokens → headings, shell fences, task
lists, labels, with lines), ``vocabulary`` (the section and label words, ja/en),
``frontmatter`` (YAML → settings and declared parameters), ``checks`` (expected
results, list roles), ``parse`` (blocks →
:class:`~converter.model.Runbook`).
"""

from .parse import parse_file, parse_text

__all__ = ["parse_file", "parse_text"]

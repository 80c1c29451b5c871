"""Model → ``.ipynb``: the notebook builder and ``runbook convert``.

``gates`` decides which checklists gate each step, ``labels`` holds the words a
notebook shows (ja/en), ``build`` renders cells from the templates in
``cells/``, ``convert`` turns many sources into notebooks, all or nothing.
"""

from .build import build_notebook, notebook_text, write_notebook
from .convert import MARKDOWN_SUFFIXES, Conversion, find_sources, plan, plan_all, stale, write_all

__all__ = [
    "MARKDOWN_SUFFIXES",
    "Conversion",
    "build_notebook",
    "find_sources",
    "notebook_text",
    "plan",
    "plan_all",
    "stale",
    "write_all",
    "write_notebook",
]

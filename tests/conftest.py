"""Shared fixtures: kept small and generic."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` next to the repository (design, seed, corpus); skips when absent."""
    path = REPO.parent / "shared"
    if not path.is_dir():
        pytest.skip(f"{path} is absent (the shared design/corpus checkout)")
    return path


@pytest.fixture(scope="session")
def legacy_locales(tmp_path_factory) -> Path:
    """Big5, GBK, Shift_JIS and Latin-1 locales, built with localedef (Debian's locales)."""
    if shutil.which("localedef") is None or not Path("/usr/share/i18n/charmaps").is_dir():
        missing = "localedef and /usr/share/i18n (Debian's locales package) are needed"
        if os.environ.get("CI") == "true":  # .ci/run installs them: this must not pass unseen
            pytest.fail(missing)
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("locales")
    for name, source, charmap in [
        ("zh_TW.BIG5", "zh_TW", "BIG5"),
        ("zh_CN.GBK", "zh_CN", "GBK"),
        ("ja_JP.SJIS", "ja_JP", "SHIFT_JIS"),
        ("de_DE.ISO-8859-1", "de_DE", "ISO-8859-1"),
    ]:
        subprocess.run(
            ["localedef", "-c", "-i", source, "-f", charmap, str(root / name)],
            capture_output=True,
            check=False,  # exits 1 on warnings; the locale is made
        )
        assert (root / name).is_dir(), name
    return root

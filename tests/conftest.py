"""Shared fixtures: kept small and generic."""

from __future__ import annotations

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

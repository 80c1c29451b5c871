"""The seal's collector freeze: nested blocks, and a heap someone else froze."""

from __future__ import annotations

import gc

from converter.records.heap import freeze_more, frozen_heap


def test_nested_blocks_unfreeze_only_when_the_outermost_ends() -> None:
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        outer = gc.get_freeze_count()
        assert outer > 0
        with frozen_heap():
            made_inside = [[] for _ in range(1000)]  # tracked containers made inside
            freeze_more()
            assert gc.get_freeze_count() >= outer + len(made_inside)
        assert gc.get_freeze_count() > 0  # the inner block left the outer's freeze alone
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_someone_else_is_left_as_it_was() -> None:
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        with frozen_heap():
            keep = [[] for _ in range(1000)]
            freeze_more()  # not ours to extend
            assert gc.get_freeze_count() == before
        assert gc.get_freeze_count() == before and keep
    finally:
        gc.unfreeze()


def test_outside_any_block_freeze_more_does_nothing() -> None:
    freeze_more()
    assert gc.get_freeze_count() == 0

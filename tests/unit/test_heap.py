"""The seal's collector freeze: nested blocks, and a heap someone else froze.

Whether an object is frozen is asked of the object (frozen objects are in no generation
``gc.get_objects`` walks), not of ``gc.get_freeze_count``: a frozen object freed meanwhile
(by another test's leftover thread, say) lowers the count, so exact counts are flaky.
"""

from __future__ import annotations

import gc

from converter.records.heap import freeze_more, frozen_heap


def _frozen(obj: object) -> bool:
    assert gc.is_tracked(obj)
    return all(o is not obj for o in gc.get_objects())


def test_nested_blocks_unfreeze_only_when_the_outermost_ends() -> None:
    assert gc.get_freeze_count() == 0
    before = []
    with frozen_heap():
        assert _frozen(before)
        with frozen_heap():
            made_inside = []
            assert not _frozen(made_inside)
            freeze_more()
            assert _frozen(made_inside)
        assert _frozen(before)  # the inner block left the outer's freeze alone
    assert gc.get_freeze_count() == 0
    assert not _frozen(before) and not _frozen(made_inside)


def test_a_heap_frozen_by_someone_else_is_left_as_it_was() -> None:
    old = []
    gc.freeze()
    try:
        with frozen_heap():
            keep = []
            freeze_more()  # not ours to extend
            assert not _frozen(keep)
        assert _frozen(old)  # nor ours to unfreeze
    finally:
        gc.unfreeze()


def test_outside_any_block_freeze_more_does_nothing() -> None:
    made = []
    freeze_more()
    assert gc.get_freeze_count() == 0 and not _frozen(made)

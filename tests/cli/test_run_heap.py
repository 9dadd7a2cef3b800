"""`sessionroom run` settles its heap once online: start-up garbage collected, the rest frozen."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from controller.cli.run import settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
def test_start_up_garbage_is_collected_and_the_survivors_frozen() -> None:
    survivor = Node()
    garbage = weakref.ref(Node())  # a cycle only a collection frees
    frozen_before = gc.get_freeze_count()
    settle_heap()
    assert garbage() is None, "start-up garbage was frozen instead of collected"
    assert gc.get_freeze_count() > frozen_before
    frozen_out = not any(obj is survivor for obj in gc.get_objects())
    assert frozen_out, "a survivor is still in the collector's generations"

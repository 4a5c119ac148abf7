"""Conflicts between bookings' windows and the search for the next free slot: pure, over sorted windows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from itertools import pairwise

from canopy.bookings.windows import Window


def first_overlap(mine: Sequence[Window], theirs: Sequence[Window]) -> tuple[Window, Window] | None:
    """The earliest (mine, theirs) pair of overlapping windows of two start-sorted lists, or None."""
    i = j = 0
    while i < len(mine) and j < len(theirs):
        if mine[i].overlaps(theirs[j]):
            return mine[i], theirs[j]
        if mine[i].end <= theirs[j].end:
            i += 1
        else:
            j += 1
    return None


def any_overlap(mine: Sequence[Window], theirs: Sequence[Window]) -> bool:
    """Whether any window of one start-sorted list overlaps one of the other."""
    return first_overlap(mine, theirs) is not None


def self_overlap(found: Sequence[Window]) -> tuple[Window, Window] | None:
    """Two consecutive windows of one start-sorted list that overlap (a cron firing faster than it lasts)."""
    for earlier, later in pairwise(found):
        if later.start < earlier.end:
            return earlier, later
    return None


def next_free_slot(
    wanted: Window,
    busy_ends: Iterable[datetime],
    fits: Callable[[Window], bool],
    until: datetime,
) -> Window | None:
    """The earliest window of `wanted`'s length starting at or after it that `fits`, before `until`.

    A slot can only become free when a busy window ends, so the candidates are `wanted` itself and a
    slot starting at each busy end after its start; the first that fits wins.
    """
    length: timedelta = wanted.length
    starts = sorted({wanted.start, *(end for end in busy_ends if end > wanted.start)})
    for start in starts:
        slot = Window(start, start + length)
        if slot.end > until:
            return None
        if fits(slot):
            return slot
    return None

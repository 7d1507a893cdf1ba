"""A run's batches, planned chunk by chunk of comparisons as the batch loop asks for them.

A 100,000-comparison run used to score every original, then plan every rewrite (a list of
``comparisons × attributes × 2`` items), then cut that list into batches: every original,
plan and batch was held at once, and nothing landed until all the originals were scored.
Here the comparisons are taken ``chunk`` at a time: a chunk's originals are scored (the
``plan_chunk`` callback: through the store, so a resume scores nothing stored), its rewrites
planned, and its items handed out in batches, and only when the batch loop needs more items
is the next chunk scored. Memory then holds one chunk's plan (plus the batches the pipeline
works ahead on), whatever the number of comparisons.

The batches are those of the one-list loop: the items of consecutive chunks are cut into
batches of ``size`` across chunk boundaries, in plan order, so every batch, ``on_batch``
frame and RM call is the same whatever ``chunk`` is, and so is the table. A run of at most
``chunk`` comparisons is planned whole before its first batch, exactly as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence

import pandas as pd

from rmx_widgets.core.data import Comparison
from rmx_widgets.core.rows import PlannedRewrite

#: Comparisons scored and planned at a time by default (``Explainer(chunk=...)``): large
#: enough that the RM scores the originals in full batches and small enough that a chunk's
#: plan (``chunk × attributes × 2`` items) costs little memory.
DEFAULT_CHUNK = 1024


class BatchPlan(Iterator[list[PlannedRewrite]]):
    """Iterate the run's batches of ``size`` items; ``plan_chunk(comparisons)`` plans a chunk
    (scoring its originals as needed). The first chunk is planned at once, so a run's first
    originals are scored before its first rewrite as they always were.

    ``pending`` holds the batches handed out and not yet taken back with ``landed()``: the
    pipeline works ahead, so the batch loop takes each batch back when its rewrites arrive.
    """

    def __init__(
        self,
        comps: Sequence[Comparison],
        plan_chunk: Callable[[Sequence[Comparison]], list[PlannedRewrite]],
        size: int,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        self._comps, self._plan_chunk, self._size, self._chunk = comps, plan_chunk, size, chunk
        self._next = 0  # the first comparison not yet planned
        self._items: deque[PlannedRewrite] = deque()
        self.pending: deque[list[PlannedRewrite]] = deque()
        #: how many chunks have been planned so far
        self.chunks_planned = 0
        self._plan_next()  # (an empty run too: its originals table is planned, empty)

    def _plan_next(self) -> None:
        chunk = self._comps[self._next : self._next + self._chunk]
        self._next += self._chunk
        self.chunks_planned += 1
        self._items.extend(self._plan_chunk(chunk))

    def __next__(self) -> list[PlannedRewrite]:
        while len(self._items) < self._size and self._next < len(self._comps):
            self._plan_next()
        if not self._items:
            raise StopIteration
        batch = [self._items.popleft() for _ in range(min(self._size, len(self._items)))]
        self.pending.append(batch)
        return batch

    def landed(self) -> list[PlannedRewrite]:
        """The oldest batch handed out, whose rewrites the batch loop now holds."""
        return self.pending.popleft()

    @property
    def finished(self) -> bool:
        """Whether every comparison is planned and every batch handed out and taken back: a
        run stopped now has nothing left undone (so it was not cancelled)."""
        return not self.pending and not self._items and self._next >= len(self._comps)


def originals_by_chunk(originals: pd.DataFrame) -> Callable[[Sequence[Comparison]], pd.DataFrame]:
    """The rows of ``originals`` for a chunk of comparisons (in the chunk's order), indexed
    once: planning from an already scored table (``iter_batches``, the null's pass) then costs
    the chunk's rows, not the whole table's, per chunk."""
    by_id = originals.set_index("comparison_id", drop=False)

    def rows(chunk: Sequence[Comparison]) -> pd.DataFrame:
        return by_id.loc[[c.id for c in chunk]].reset_index(drop=True)

    return rows


def concat_originals(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The chunks' originals as one table, in comparison order (one chunk: that table)."""
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

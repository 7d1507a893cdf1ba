"""A run's batches, planned chunk by chunk of comparisons as the batch loop asks for them.

A 100,000-comparison run used to score every original, then plan every rewrite (a list of
``comparisons × attributes × 2`` items), then cut that list into batches: every original,
plan and batch was held at once, and nothing landed until all the originals were scored.
Here the comparisons are taken ``chunk`` at a time: a chunk's originals are scored (the
``plan_chunk`` callback: through the store, so a resume scores nothing stored), its rewrites
planned, and its items handed out in batches, and only when the batch loop needs more items
is the next chunk scored. Memory then holds one chunk's plan (plus the batches the pipeline
works ahead on), whatever the number of comparisons.

With ``piece`` (a pipeline that rewrites ahead, ``core.pipeline``) a chunk is planned in
pieces that grow: ``piece`` comparisons first, then twice as many each time, up to the
chunk's end. The first piece's batches are handed out at once, so the perturber works on
them while the next pieces' originals are scored (``plan_ahead``, in the time the pipeline
would otherwise wait); nothing of a chunk lands before the chunk is planned whole
(``landed`` finishes it), and ``on_chunk`` is then called, so a caller's ``on_start`` still
sees every original of the chunk, and the chunks before counted, before any of its rewrites
lands. The originals' scores are those of one whole-chunk call (a score depends on its text
alone: the store caches it by that). Without ``piece`` (the batch-by-batch loop, which makes
each batch's rewrites in the caller's thread as it is handed out) a chunk is planned whole
before its first batch, as before.

The batches are those of the one-list loop: the items of consecutive chunks are cut into
batches of ``size`` across chunk boundaries, in plan order, so every batch, ``on_batch``
frame and RM call on a rewrite is the same whatever ``chunk`` is, and so is the table. A run
of at most ``chunk`` comparisons calls ``on_chunk`` once, before its first batch lands.
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
    """Iterate the run's batches of ``size`` items; ``plan_chunk(comparisons)`` plans a chunk,
    or a piece of one (scoring its originals as needed), and ``on_chunk(items)`` is called
    once each chunk is planned whole, with the number of items planned from it. The first
    chunk (with ``piece``: its first piece) is planned at once, so a run's first originals are
    scored before its first rewrite as they always were.

    ``pending`` holds the batches handed out and not yet taken back with ``landed()``: the
    pipeline works ahead, so the batch loop takes each batch back when its rewrites arrive.
    It is also the pipeline's ``PlansAhead``: ``plan_ahead()`` plans the next piece of the
    chunk being planned, in the time the pipeline would otherwise wait.
    """

    def __init__(
        self,
        comps: Sequence[Comparison],
        plan_chunk: Callable[[Sequence[Comparison]], list[PlannedRewrite]],
        size: int,
        chunk: int = DEFAULT_CHUNK,
        *,
        piece: int | None = None,
        on_chunk: Callable[[int], None] | None = None,
    ) -> None:
        self._comps, self._plan_chunk, self._size, self._chunk = comps, plan_chunk, size, chunk
        self._first = chunk if piece is None else max(1, min(piece, chunk))
        self._early, self._on_chunk = piece is not None, on_chunk
        self._next = 0  # the first comparison not yet planned
        self._end = 0  # the end of the chunk being planned (== _next once it is whole)
        self._whole = 0  # the comparisons of the chunks planned whole (on_chunk returned)
        self._grow = self._first  # the size of that chunk's next piece
        self._in_chunk = 0  # items planned from that chunk so far
        self._items: deque[PlannedRewrite] = deque()
        self.pending: deque[list[PlannedRewrite]] = deque()
        self._needs: deque[int] = deque()  # per pending batch: the end of its last chunk
        self._error: Exception | None = None  # planning failed: raised again, never retried
        #: how many chunks have been started so far
        self.chunks_planned = 0
        self._plan_piece()  # (an empty run too: its originals table is planned, empty)
        if not self._early:
            self._finish_chunk(self._end)

    def _plan_piece(self) -> None:
        """Plan the next piece (a new chunk's first once the last is whole); a failure, of
        the piece or of ``on_chunk``, is kept: the RM is not asked for that piece again."""
        if self._error is not None:
            raise self._error
        try:
            if self._next >= self._end:  # a new chunk
                self._end = min(self._next + self._chunk, len(self._comps))
                self._grow, self._in_chunk = self._first, 0
                self.chunks_planned += 1
            end = min(self._next + self._grow, self._end)
            items = self._plan_chunk(self._comps[self._next : end])
            self._items.extend(items)
            self._next, self._grow, self._in_chunk = (
                end,
                2 * self._grow,
                self._in_chunk + len(items),
            )
            if end >= self._end:
                if self._on_chunk is not None:
                    self._on_chunk(self._in_chunk)
                self._whole = end
        except Exception as e:
            self._error = e
            raise

    def _finish_chunk(self, end: int) -> None:
        """Plan whole the chunks up to comparison ``end``."""
        while self._whole < end:
            self._plan_piece()

    def __next__(self) -> list[PlannedRewrite]:
        while len(self._items) < self._size and self._next < len(self._comps):
            self._plan_piece()
            if not self._early:
                self._finish_chunk(self._end)
        if self._error is not None:  # (a later piece failed: the batch it would have made)
            raise self._error
        if not self._items:
            raise StopIteration
        batch = [self._items.popleft() for _ in range(min(self._size, len(self._items)))]
        self.pending.append(batch)
        self._needs.append(self._end)
        return batch

    def plan_ahead(self) -> bool:
        """Plan the next piece of the chunk being planned, now; ``False`` when that chunk is
        planned whole (the next chunk waits until its batches are needed, as memory is bounded
        by one chunk's plan) or planning failed. Never raises: an error is raised when the
        batches need that piece (``next``, ``landed``), after the batches before it."""
        if self._error is not None or self._whole >= self._end:
            return False
        try:
            self._plan_piece()
        except Exception:  # (kept by _plan_piece)
            return False
        return True

    def landed(self) -> list[PlannedRewrite]:
        """The oldest batch handed out, whose rewrites the batch loop now holds; its chunk is
        planned whole first (``on_chunk`` before any of the chunk's rows land)."""
        self._finish_chunk(self._needs[0])
        self._needs.popleft()
        return self.pending.popleft()

    def finish(self) -> None:
        """Plan the rest of the chunk being planned, as a batch loop stopped now (Cancel) would
        have: a stopped run's originals are those of whole chunks."""
        self._finish_chunk(self._end)

    @property
    def finished(self) -> bool:
        """Whether every comparison is planned and every batch handed out and taken back: a
        run stopped now has nothing left undone (so it was not cancelled)."""
        return not self.pending and not self._items and self._next >= len(self._comps)


def run_plan(
    comps: Sequence[Comparison],
    plan_chunk: Callable[[Sequence[Comparison]], list[PlannedRewrite]],
    batch_size: int,
    chunk: int,
    ahead: int,
    on_chunk: Callable[[int], None] | None = None,
) -> BatchPlan:
    """A run's batches of ``batch_size`` comparisons' worth of items (``2 × batch_size``). With
    a lookahead (``ahead`` > 0) its chunks are planned in pieces, the first of ``batch_size``
    comparisons (an RM call the size of one batch of rewrites), so the perturber starts after
    one piece of originals; the batch-by-batch loop plans each chunk whole, as before."""
    piece = batch_size if ahead > 0 else None
    return BatchPlan(comps, plan_chunk, 2 * batch_size, chunk, piece=piece, on_chunk=on_chunk)


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

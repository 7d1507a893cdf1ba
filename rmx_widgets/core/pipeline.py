"""The streaming pipeline of a run: the perturber works ahead while the RM scores.

A run alternates two different costs: rewrites wait on an LLM server (latency-bound) and scores
wait on this machine's CPU or GPU (compute-bound). Run one after the other, batch by batch, a
run costs their sum, and each batch's slowest request idles every other slot. Here the rewrites
of the next ``ahead`` batches are requested (in worker threads) while the caller scores and
lands the current one, so the run costs about the larger of the two:

- generation never waits for scoring: up to ``ahead`` batches are being rewritten at any time,
  and with a ``ConcurrentBatches`` perturber (``OpenAIPerturber``) they share its one bound of
  ``concurrency`` requests, so a batch's slow tail leaves no slot idle while others wait;
- batches are handed back in plan order, each once all its rewrites are in, so the table, the
  ``on_batch`` frames and the RM's batches of rewrites are those of the batch-by-batch loop
  (``ahead=0``; the originals are scored in pieces, below, to the same scores: the store
  already takes a score to depend on its text alone);
- memory is bounded: at most ``ahead`` batches are generated and not yet handed back;
- every rewrite goes through ``CachedPerturber`` as before (claims, one store write per result,
  claims released on the way out), so resume, claims between processes and exactly-once
  storing hold unchanged. Two batches in flight that share a request would both claim it for
  this process, so a batch waits for the earlier batches holding any of its requests;
- Cancel: no batch is started once ``cancel`` is set, the ones in flight finish (their rewrites
  are stored, a rerun uses them) and no rewrite after the last landed batch is scored (a chunk
  whose originals were being scored in pieces is finished, as the batch loop scores it whole);
- the batches may be a lazy iterator (``core.chunks.BatchPlan``, which scores and plans a
  chunk of comparisons when its batches are first asked for): it is pulled from in the
  caller's thread, at most ``ahead`` batches ahead, and an error it raises is raised when the
  batch it failed to make is asked for, after the batches before it, as in the one-by-one loop;
- one that ``PlansAhead`` is given the caller's idle time: while the oldest batch in flight is
  not back, ``plan_ahead()`` is called (in the caller's thread, so the RM is never called from
  two threads at once) and the window topped up after each call. ``BatchPlan`` scores a
  chunk's originals in growing pieces this way (``batch_size`` comparisons, then twice as many
  each time), so the first piece's rewrites are in flight while the rest are scored, instead
  of generation waiting for every original. Nothing of a chunk lands before all its originals
  are scored (``on_start`` sees them all first, and the whole chunk's rewrites counted), so
  the default window (``AHEAD_WAVES``) also covers that time.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Protocol, runtime_checkable

from rmx_widgets.core.cached import Cached, CachedPerturber
from rmx_widgets.core.perturbers.base import (
    ConcurrentBatches,
    PerturbationRequest,
    PerturbationResult,
    Perturber,
)
from rmx_widgets.core.rows import PlannedRewrite

MAX_AHEAD = 32  # worker threads at most: each only waits on its batch


@runtime_checkable
class PlansAhead(Protocol):
    """Batches that can do some of their later planning now, while the pipeline waits on the
    perturber (``core.chunks.BatchPlan``: the next piece of a chunk's originals)."""

    def plan_ahead(self) -> bool:
        """Plan a little more now; ``False`` when there is nothing to plan ahead. Never
        raises: an error is raised by ``next`` when the batch that needed the work is made."""
        ...


#: Waves of the perturber's ``batch_concurrency`` requests the lookahead holds by default: two
#: keep its bound full through a batch's slow tail, and two more keep it busy while the caller
#: scores the rest of a chunk's originals (``core.chunks``: nothing of a chunk lands before
#: they are all scored, so the window is not emptied meanwhile).
AHEAD_WAVES = 4


def default_ahead(perturber: Perturber, batch_items: int) -> int:
    """How many batches to rewrite ahead of scoring: enough for ``AHEAD_WAVES`` waves of the
    perturber's requests and at least two, for a ``ConcurrentBatches`` perturber; none
    otherwise: a local perturber computes on the same machine as the RM, and running it in
    parallel with itself could be unsafe."""
    if not isinstance(perturber, ConcurrentBatches):
        return 0
    waves = -(-AHEAD_WAVES * max(1, perturber.batch_concurrency) // max(1, batch_items))
    return max(2, min(MAX_AHEAD, waves))


def _perturb_after(
    cached: CachedPerturber,
    requests: list[PerturbationRequest],
    earlier: set[Future[Cached[PerturbationResult] | None]],
    stop: threading.Event,
) -> Cached[PerturbationResult] | None:
    """One batch's rewrites, once the earlier batches that share a request are done (so this
    one finds those in the store); nothing if the pipeline stopped meanwhile."""
    if earlier:
        wait(earlier)
    if stop.is_set():
        return None
    return cached.perturb_batch(requests)


def stream_rewrites(
    batches: Iterable[Sequence[PlannedRewrite]],
    cached: CachedPerturber,
    ahead: int,
    cancel: threading.Event | None = None,
) -> Generator[Cached[PerturbationResult], None, None]:
    """The rewrites of each batch, in order, with up to ``ahead`` later batches in flight.

    ``ahead=0`` rewrites each batch when it is asked for, in the caller's thread (the
    batch-by-batch loop). Close the iterator (or exhaust it) to stop: batches not started are
    dropped and the ones in flight are waited for, so no rewrite outlives the run (except on
    Ctrl-C, which returns at once: those batches finish storing in their threads). An error
    of a batch is raised when that batch is asked for, as in the batch-by-batch loop.
    """
    if ahead <= 0:
        for batch in batches:
            yield cached.perturb_batch([it.request for it in batch])
        return
    pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="rmx-perturb")
    stop = threading.Event()
    in_flight: deque[Future[Cached[PerturbationResult] | None]] = deque()
    keys_of: dict[Future[Cached[PerturbationResult] | None], list[str]] = {}
    holder: dict[str, Future[Cached[PerturbationResult] | None]] = {}  # key → last batch
    source = iter(batches)
    planner = batches if isinstance(batches, PlansAhead) else None
    ended = False
    failed: list[Exception] = []  # the error making the next batch raised: raised in turn

    def stopped() -> bool:
        return stop.is_set() or (cancel is not None and cancel.is_set())

    def top_up() -> None:
        nonlocal ended
        while not ended and len(in_flight) < ahead:
            if stopped():
                return
            try:
                batch = next(source)
            except StopIteration:
                ended = True
                return
            except Exception as e:  # (scoring a chunk's originals): after the batches before
                ended = True
                failed.append(e)
                return
            requests = [it.request for it in batch]
            keys = [cached.key(r) for r in requests]
            earlier = {holder[k] for k in keys if k in holder}
            future = pool.submit(_perturb_after, cached, requests, earlier, stop)
            holder.update(dict.fromkeys(keys, future))
            keys_of[future] = keys
            in_flight.append(future)

    abandon = False
    try:
        top_up()
        while in_flight or failed:
            if not in_flight:
                raise failed.pop()
            while planner is not None and not in_flight[0].done() and not stopped():
                if not planner.plan_ahead():  # (the caller's idle time, in its own thread)
                    break
                top_up()
            future = in_flight.popleft()
            rewrites = future.result()
            for k in keys_of.pop(future):
                if holder.get(k) is future:
                    del holder[k]
            top_up()
            assert rewrites is not None  # (only a stopped pipeline skips a batch)
            yield rewrites
    except KeyboardInterrupt:  # stop now; the batches in flight finish (and store) behind us
        abandon = True
        raise
    finally:
        stop.set()
        pool.shutdown(wait=not abandon, cancel_futures=True)

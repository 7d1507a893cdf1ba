"""How long a live run has left, measured on the work it computes, not on what it resumes.

A run that resumes from the store first streams its cached rows in milliseconds; the old
estimate (elapsed / done x remaining) counted them as done work and so promised the rest in
seconds when it would take minutes. Here only batches that computed something are timed, and
their seconds are divided by the rewrites they computed (a batch mixing cached and computed
rows costs what its computed rows cost: reading the store is close to free). Until one batch
has computed anything the estimate is "not measured", never 0; the rows still to come are
assumed to need computing (the store is not asked ahead which are there, so the estimate errs
long, never short).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rmx_widgets.core.result import RunStats


class RunClock:
    """``start()`` when the run's rewrites begin, ``update(stats)`` after each landed batch;
    ``remaining()`` is the estimate in seconds (None: not measured yet)."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._last = self._clock()
        self._done = 0
        self._cached = 0
        #: seconds spent in batches that computed something, and the rewrites they computed
        self.computed_seconds = 0.0
        self.computed = 0
        #: whether the last batch came wholly from the store (a resume still streaming)
        self.streaming_cached = False

    def start(self) -> None:
        """Time from now: what came before (loading, scoring the originals) is no rewrite."""
        self._last = self._clock()

    @property
    def cached(self) -> int:
        """Rewrites of this run served from the store so far."""
        return self._cached

    def update(self, stats: RunStats) -> None:
        now = self._clock()
        done, cached = stats.work_done, stats.perturbations_cached
        computed = (done - self._done) - (cached - self._cached)
        if computed > 0:
            self.computed_seconds += now - self._last
            self.computed += computed
        self.streaming_cached = computed <= 0 and cached > self._cached
        self._last, self._done, self._cached = now, done, cached

    def remaining(self, total: int) -> float | None:
        """Seconds left for the ``total - done`` rewrites still to come, at the computed rate."""
        if not self.computed:
            return None
        return self.computed_seconds / self.computed * max(total - self._done, 0)

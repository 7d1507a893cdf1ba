"""Runs streamed in chunks of comparisons (core/chunks.py): the same table, flat memory.

Real components throughout: the transparent RM, the rule perturber (and the random-word null),
the sample comparisons, SQLite stores in a temp dir.
"""

import gc
import threading

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.chunks import BatchPlan
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.perturbers.base import BasePerturber
from rmx_widgets.core.rows import PlannedRewrite

ATTRS = ["verbosity", "assertiveness", "manner"]


def data(n: int = 23) -> list[Comparison]:
    """``n`` distinct comparisons, two of them ties (the same response twice)."""
    base = rmx.sample_comparisons()
    out = []
    for i in range(n):
        c = base[i % len(base)]
        b = c.response_a if i in (4, 7) else c.response_b
        b = f"{b} ({i})"
        out.append(
            Comparison(
                id=f"c{i:03d}",
                prompt=f"[{i}] {c.prompt}",
                response_a=c.response_a + f" ({i})",
                response_b=b,
            )
        )
    return out


def explainer(store, **kw):
    kw.setdefault("batch_size", 5)  # 10 items a batch: batches cut comparisons (6 items each)
    return rmx.Explainer(
        rmx.TransparentRewardModel(),
        rmx.RulePerturber(),
        attributes=ATTRS,
        store=store,
        progress=False,
        null_perturber=rmx.RandomWordPerturber(seed=0),
        **kw,
    )


def run(tmp_path, name, **kw):
    starts, batches = [], []
    with pytest.warns(UserWarning, match="2 comparison"):  # one ties warning for the whole run
        res = explainer(tmp_path / f"{name}.sqlite", **kw).explain(
            data(),
            on_start=lambda o, s: starts.append((len(o), s.work_items)),
            on_batch=lambda f: batches.append(f),
        )
    return res, starts, batches


def test_a_multi_chunk_run_equals_a_one_chunk_run(tmp_path):
    whole, starts1, batches1 = run(tmp_path, "whole")
    chunked, starts4, batches4 = run(tmp_path, "chunked", chunk=4)
    pd.testing.assert_frame_equal(chunked.table, whole.table)
    pd.testing.assert_frame_equal(chunked.originals, whole.originals)
    pd.testing.assert_frame_equal(chunked.null_table, whole.null_table)
    assert len(whole.table) == (23 - 2) * len(ATTRS) * 2 == 126
    # the same batches, cut across chunk boundaries: 13 batches of 10 rows, then 6
    assert [len(b) for b in batches4] == [len(b) for b in batches1] == [10] * 12 + [6]
    for a, b in zip(batches4, batches1):
        pd.testing.assert_frame_equal(a, b)
    # on_start: before any rewrite is planned, once for one chunk, else before each chunk
    # with the originals so far and the rewrites planned from the chunks before
    assert starts1 == [(23, 0)]
    assert starts4 == [(4, 0), (8, 24), (12, 36), (16, 60), (20, 84), (23, 108)]
    s1, s4 = whole.stats, chunked.stats
    assert (s4.comparisons, s4.ties, s4.work_items, s4.work_done) == (23, 2, 126, 126)
    assert s4.as_dict() == s1.as_dict()
    assert not s4.cancelled and s4.null_work_items == s4.null_work_done == 126


def test_cancel_in_a_later_chunk_keeps_what_landed_and_resume_recomputes_nothing(tmp_path):
    store, cancel, seen = tmp_path / "s.sqlite", threading.Event(), []

    def on_batch(frame):
        seen.append(len(frame))
        if len(seen) == 3:  # in the third chunk of 4 comparisons (24 items a chunk)
            cancel.set()

    with pytest.warns(UserWarning, match="ties"):
        part = explainer(store, chunk=4).explain(data(), cancel=cancel, on_batch=on_batch)
    assert part.stats.cancelled and len(part.table) == 30 and part.null_table is None
    assert len(part.originals) == 8  # the chunks it reached (the next not scored)
    with pytest.warns(UserWarning, match="ties"):
        rest = explainer(store, chunk=4).explain(data())
    assert rest.stats.perturbations_cached == 30 and rest.stats.perturbations_computed == 96
    with pytest.warns(UserWarning, match="ties"):
        fresh = explainer(tmp_path / "fresh.sqlite").explain(data())
    # every score the cancelled run stored is read back, none computed again
    assert rest.stats.scores_computed == fresh.stats.scores_computed - part.stats.scores_computed
    assert rest.stats.scores_cached >= part.stats.scores_computed > 2 * 8
    pd.testing.assert_frame_equal(rest.table, fresh.table)
    pd.testing.assert_frame_equal(part.table, fresh.table.iloc[:30])


class LivePlans(BasePerturber):
    """The rule perturber's rewrites, counting at each batch the planned rewrites and the
    full table frames (with their ``perturbed`` texts) alive in the process."""

    identity = "rule-live-plans:v1"

    def __init__(self) -> None:
        self.rule = rmx.RulePerturber()
        self.plans: list[int] = []
        self.frames: list[int] = []
        # frames earlier tests left alive (fixtures, caches) are not this run's
        gc.collect()
        self.before = {id(o) for o in gc.get_objects() if self._is_frame(o)}

    @staticmethod
    def _is_frame(o: object) -> bool:
        return isinstance(o, pd.DataFrame) and "perturbed" in o.columns

    def supports(self, attribute):
        return self.rule.supports(attribute)

    def perturb_batch(self, requests, on_result=None):
        gc.collect()
        alive = gc.get_objects()
        self.plans.append(sum(isinstance(o, PlannedRewrite) for o in alive))
        self.frames.append(sum(self._is_frame(o) and id(o) not in self.before for o in alive))
        return self.rule.perturb_batch(requests, on_result)


@pytest.mark.parametrize("n", [12, 40])
def test_explain_to_holds_one_chunks_plan_and_no_landed_frames(tmp_path, n):
    p = LivePlans()
    ex = rmx.Explainer(
        rmx.TransparentRewardModel(),
        p,
        attributes=ATTRS,
        progress=False,
        store=tmp_path / "s.sqlite",
        batch_size=3,
        chunk=4,
    )
    with pytest.warns(UserWarning, match="ties"):
        saved = ex.explain_to(data(n), tmp_path / "out", report=False)
    assert saved.summary["rows"] == (n - 2) * 6 and len(p.plans) == -(-(n - 2) * 6 // 6)
    # one chunk's plan (4 comparisons x 6 rewrites) and the batch taken from it, whatever n
    assert max(p.plans) <= 4 * 6 + 6
    assert max(p.frames) <= 1  # the last landed frame at most: each was written and let go


def test_the_batch_plan_plans_a_chunk_only_when_its_batches_are_needed():
    planned: list[int] = []

    def plan_chunk(chunk):
        planned.append(len(chunk))
        return [c for c in chunk for _ in range(3)]  # 3 items a comparison

    plan = BatchPlan(list(range(10)), plan_chunk, size=4, chunk=3)
    assert planned == [3] and not plan.finished  # the first chunk at once
    assert next(plan) == [0, 0, 0, 1] and planned == [3]
    assert next(plan) == [1, 1, 2, 2] and planned == [3]
    assert next(plan) == [2, 3, 3, 3] and planned == [3, 3]  # across the chunk boundary
    rest = list(plan)
    assert planned == [3, 3, 3, 1] and rest[-1] == [9, 9]
    while plan.pending:
        plan.landed()
    assert plan.finished
    empty = BatchPlan([], plan_chunk, size=4, chunk=3)
    assert planned[-1] == 0 and list(empty) == [] and empty.finished  # an empty run's table


def test_a_pipeline_s_plan_goes_out_after_one_piece_and_lands_whole_chunks():
    """With ``piece`` a chunk is planned in pieces of 1, 2, 4 … comparisons: the first
    piece's batches are handed out at once, ``plan_ahead`` plans the next piece of the chunk
    (never the next chunk), and a batch is taken back only once its chunk is whole."""
    planned: list[list[int]] = []
    whole: list[tuple[int, int]] = []  # (comparisons planned, the chunk's items) at on_chunk

    def plan_chunk(piece):
        planned.append(list(piece))
        return [c for c in piece for _ in range(2)]  # 2 items a comparison

    def on_chunk(items):
        whole.append((sum(map(len, planned)), items))

    plan = BatchPlan(list(range(10)), plan_chunk, size=2, chunk=7, piece=1, on_chunk=on_chunk)
    assert planned == [[0]] and whole == []  # the first piece alone
    assert next(plan) == [0, 0] and planned == [[0]]
    assert next(plan) == [1, 1] and planned == [[0], [1, 2]]  # the next piece when needed
    assert plan.plan_ahead() and planned[-1] == [3, 4, 5, 6] and whole == [(7, 14)]
    assert not plan.plan_ahead() and len(planned) == 3  # the next chunk waits
    assert plan.landed() == [0, 0] and plan.landed() == [1, 1]
    assert [next(plan) for _ in range(5)] == [[2, 2], [3, 3], [4, 4], [5, 5], [6, 6]]
    assert next(plan) == [7, 7] and planned[-1] == [7] and whole == [(7, 14)]  # chunk 2: 1, then 2
    for _ in range(5):
        plan.landed()
    assert whole == [(7, 14)] and len(planned) == 4
    plan.landed()  # [7, 7]: its chunk is planned whole first
    assert planned[-1] == [8, 9] and whole == [(7, 14), (10, 6)]
    assert list(plan) == [[8, 8], [9, 9]] and not plan.plan_ahead()
    while plan.pending:
        plan.landed()
    assert plan.finished
    # without ``piece`` (the batch loop) every chunk is planned whole before its first batch
    planned.clear()
    loop = BatchPlan(list(range(10)), plan_chunk, size=2, chunk=7)
    assert planned == [[0, 1, 2, 3, 4, 5, 6]] and not loop.plan_ahead()


def test_an_error_planning_ahead_is_raised_where_the_piece_is_needed_and_not_retried():
    calls: list[list[int]] = []

    def plan_chunk(piece):
        calls.append(list(piece))
        if len(calls) == 2:
            raise RuntimeError("the RM ran out of memory")
        return [c for c in piece for _ in range(2)]

    plan = BatchPlan(list(range(6)), plan_chunk, size=2, chunk=6, piece=2)
    assert next(plan) == [0, 0] and next(plan) == [1, 1]
    assert not plan.plan_ahead()  # (the error is kept, not raised here)
    for _ in range(2):
        with pytest.raises(RuntimeError, match="out of memory"):
            plan.landed()  # the batch's chunk cannot be planned whole
    with pytest.raises(RuntimeError, match="out of memory"):
        next(plan)
    assert calls == [[0, 1], [2, 3, 4, 5]]  # the failing piece was asked of the RM once


def test_a_failing_on_chunk_while_planning_ahead_stops_the_chunk_from_landing():
    """``on_chunk`` (the run's ``on_start``) raising in ``plan_ahead``: kept, and raised when
    a batch of that chunk is taken back; a batch of the chunk before still lands."""
    chunks_seen: list[int] = []

    def on_chunk(items):
        chunks_seen.append(len(chunks_seen))
        if len(chunks_seen) == 2:
            raise ValueError("every comparison is a tie")

    plan = BatchPlan(list(range(6)), lambda p: list(p), size=2, chunk=3, piece=1, on_chunk=on_chunk)
    assert next(plan) == [0, 1] and chunks_seen == [0]  # chunk 1 ([0], [1, 2]) is whole
    assert next(plan) == [2, 3] and chunks_seen == [0]  # and chunk 2's first piece, [3]
    assert not plan.plan_ahead() and chunks_seen == [0, 1]  # [4, 5]: on_chunk raised
    assert plan.landed() == [0, 1]  # the chunk before lands
    for _ in range(2):  # the failing chunk's batch never does (and on_chunk is not rerun)
        with pytest.raises(ValueError, match="tie"):
            plan.landed()
    with pytest.raises(ValueError, match="tie"):
        next(plan)
    assert chunks_seen == [0, 1]

"""The streaming pipeline (core.pipeline): generation overlaps scoring, in-flight work is
bounded, Cancel and errors behave as in the batch-by-batch loop, and tables are identical."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest
from fake_llm_server import FakeLLMServer

import rmx_widgets as rmx
from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.errors import OptionError, PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    ConcurrentBatches,
    PerturbationRequest,
    PerturbationResult,
)
from rmx_widgets.core.perturbers.openai import OpenAIPerturber
from rmx_widgets.core.pipeline import MAX_AHEAD, default_ahead
from rmx_widgets.core.reward_models.base import CallableRewardModel

ATTRS = ["verbosity", "manner"]


def comps(n: int, *, repeat: bool = False) -> list[dict[str, str]]:
    """``n`` comparisons; with ``repeat`` every pair of them is the same question and answers
    (so the same rewrite requests appear in two batches that may be in flight together)."""
    out = []
    for i in range(n):
        j = i // 2 if repeat else i
        out.append(
            {
                "id": f"c{i:02d}",
                "prompt": f"question {j}",
                "response_a": f"answer number {j} is long",
                "response_b": f"reply {j}",
            }
        )
    return out


def reward(prompts, responses):  # deterministic, never a tie, rewrites differ from originals
    return [(sum(map(ord, r)) % 97) / 10 + len(r) / 100 for r in responses]


class Streaming(BasePerturber):
    """A ``ConcurrentBatches`` perturber that records its batches (thread-safe)."""

    identity = "test-streaming:v1"
    batch_concurrency = 4

    def __init__(self, delay: float = 0.0, fail_at: int | None = None, on_start=None) -> None:
        self.delay, self.fail_at, self.on_start = delay, fail_at, on_start
        self.lock = threading.Lock()
        self.started = self.ended = self.in_flight = self.max_in_flight = 0
        self.requests: list[PerturbationRequest] = []

    def perturb_batch(self, requests, on_result=None):
        with self.lock:
            self.started += 1
            index = self.started
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.requests.extend(requests)
        try:
            if self.on_start is not None:
                self.on_start(index)
            time.sleep(self.delay)
            if self.fail_at == index:
                raise PerturberError("the server went away")
            return super().perturb_batch(requests, on_result)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.ended += 1

    def perturb(self, request):
        if request.attribute.name == "manner" and request.direction == "better":
            return PerturbationResult.failed("no better manners here", FailureKind.UNPARSEABLE)
        return f"{request.response} ({request.attribute.name} {request.direction})"


def explainer(perturber, rm=reward, **kw):
    kw.setdefault("batch_size", 2)  # one comparison (2 attributes x 2 sides) per batch
    rm = CallableRewardModel(rm, name="test-length-rm:v1")
    return rmx.Explainer(rm, perturber, attributes=ATTRS, progress=False, **kw)


def test_the_declared_capability_decides_the_lookahead():
    assert isinstance(Streaming(), ConcurrentBatches)
    assert default_ahead(Streaming(), 4) == 4  # four waves of 4 requests in batches of 4
    assert default_ahead(Streaming(), 16) == 2  # one batch holds them: at least two
    assert default_ahead(Streaming(), 3) == 6  # 16 requests in batches of 3, rounded up
    assert default_ahead(Streaming(), 1) == 16
    assert default_ahead(BasePerturber(), 64) == 0  # a local perturber: the batch loop
    p = OpenAIPerturber("m", base_url="http://127.0.0.1:1/v1", concurrency=64)
    assert isinstance(p, ConcurrentBatches) and default_ahead(p, 2) == MAX_AHEAD
    with pytest.raises(OptionError, match="lookahead"):
        explainer(Streaming(), lookahead=-1)


def test_scoring_starts_before_generation_ends():
    """Batch 1 returns only once batch 2 has started, and batch 2 only once the RM has scored
    a rewrite: both hold (within 5 s) only if scoring overlaps generation. In the batch loop
    batch 2 cannot start before batch 1 is scored, so the first wait would time out."""
    second_started, scored_a_rewrite = threading.Event(), threading.Event()
    seen: list[tuple[str, bool]] = []

    def rm(prompts, responses):
        if any("(" in r for r in responses):  # a rewrite, not an original
            scored_a_rewrite.set()
        return reward(prompts, responses)

    def on_start(index):
        if index == 1:
            seen.append(("batch 2 started while batch 1 ran", second_started.wait(5)))
        elif index == 2:
            seen.append(("nothing scored when batch 2 started", not scored_a_rewrite.is_set()))
            second_started.set()
            seen.append(("scored while batch 2 ran", scored_a_rewrite.wait(5)))

    res = explainer(Streaming(on_start=on_start), rm, lookahead=2).explain(comps(4))
    assert len(res.table) == 16 and len(seen) == 3 and all(ok for _, ok in seen), seen


def test_in_flight_work_is_bounded():
    p, started_at_landing = Streaming(delay=0.01), []
    ex = explainer(p, lookahead=2)
    ex.explain(comps(10), on_batch=lambda f: started_at_landing.append(p.started))
    # when batch i (1-based) lands, at most i + 2 batches were ever started
    assert all(s <= i + 2 for i, s in enumerate(started_at_landing, start=1))
    assert p.max_in_flight <= 2 and p.started == p.ended == 10


def test_cancel_mid_stream_keeps_what_landed_and_resume_computes_only_the_rest(tmp_path):
    p, cancel, seen = Streaming(delay=0.01), threading.Event(), []

    def on_batch(frame):
        seen.append(len(frame))
        if len(seen) == 2:
            cancel.set()

    store = tmp_path / "s.sqlite"
    ex = explainer(p, store=store, lookahead=3)
    res = ex.explain(comps(10), cancel=cancel, on_batch=on_batch)
    assert seen == [4, 4] and len(res.table) == 8 and res.stats.cancelled
    # no batch starts after the cancel; the ones in flight finished before explain returned
    assert p.started == p.ended <= 2 + 3
    stored = 4 * p.started
    again = Streaming()
    res2 = explainer(again, store=store, lookahead=3).explain(comps(10))
    assert len(res2.table) == 40 and len(again.requests) == 40 - stored
    assert res2.stats.perturbations_computed == 40 - stored
    assert res2.stats.perturbations_cached == stored


def test_a_perturber_error_surfaces_after_the_batches_before_it_land():
    seen = []
    with pytest.raises(PerturberError, match="went away"):
        explainer(Streaming(fail_at=3), lookahead=2).explain(
            comps(6), on_batch=lambda f: seen.append(len(f))
        )
    assert seen == [4, 4]  # as in the batch loop: the two batches before the failing one


def test_an_rm_error_surfaces_and_no_perturber_work_outlives_the_run():
    calls = []

    def rm(prompts, responses):
        if any("(" in r for r in responses):  # a batch of rewrites, not originals
            calls.append(len(responses))
            if len(calls) == 2:  # batch 1 lands, then batch 2 fails
                raise RuntimeError("out of memory")
        return reward(prompts, responses)

    p = Streaming(delay=0.01)
    with pytest.raises(RuntimeError, match="out of memory"):  # as in the batch loop
        explainer(p, rm, lookahead=3).explain(comps(8))
    assert p.started == p.ended <= 2 + 3


def test_failed_rewrites_are_failed_rows_and_tables_equal_the_batch_loop():
    streamed = explainer(Streaming()).explain(comps(7))
    plain = explainer(Streaming(), lookahead=0).explain(comps(7))
    pd.testing.assert_frame_equal(streamed.table, plain.table)
    failed = streamed.table[streamed.table["outcome"] == "failed"]
    assert len(failed) == 7 and set(failed["attribute"]) == {"manner"}
    assert streamed.stats.perturbation_failures == plain.stats.perturbation_failures == 7


def test_requests_shared_by_batches_in_flight_are_computed_once(tmp_path):
    p = Streaming(delay=0.01)
    res = explainer(p, store=tmp_path / "s.sqlite", lookahead=4).explain(comps(8, repeat=True))
    keys = {(r.prompt, r.response, r.attribute.name, r.direction) for r in p.requests}
    assert len(res.table) == 32 and len(p.requests) == len(keys) == 16
    assert res.stats.perturbations_computed == 16 and res.stats.perturbations_cached == 16


def test_openai_perturber_streams_with_one_client_and_the_same_table():
    with FakeLLMServer(delay=0.02) as server:
        p = OpenAIPerturber("fake", base_url=server.url, concurrency=4)
        streamed = explainer(p).explain(comps(6))
        session = p.__dict__["_session"]
        again = OpenAIPerturber("fake", base_url=server.url, concurrency=4)
        batch_loop = explainer(again, lookahead=0).explain(comps(6))
        assert p.__dict__["_session"] is session  # one client for every batch
        assert server.max_in_flight <= 4
    pd.testing.assert_frame_equal(streamed.table, batch_loop.table)
    assert len(streamed.table) == 24 and streamed.stats.perturbation_failures == 0


def test_openai_batches_from_several_threads_share_one_concurrency_bound():
    with FakeLLMServer(delay=0.05) as server:
        p = OpenAIPerturber("fake", base_url=server.url, concurrency=3)
        attr = get_attribute("verbosity")
        batches = [
            [PerturbationRequest("q", f"answer {t} {i}", attr, "worse") for i in range(6)]
            for t in range(3)
        ]
        out: list = [None] * 3
        threads = [
            threading.Thread(target=lambda t=t: out.__setitem__(t, p.perturb_batch(batches[t])))
            for t in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert server.max_in_flight == 3 and len(server.requests) == 18
    assert all(r.text is not None for batch in out for r in batch)


def test_generation_starts_after_the_first_piece_of_originals_and_nothing_lands_before_all():
    """The originals are scored in pieces of 2, 4, 6 comparisons (batch_size 2): the RM's
    second piece waits (up to 5 s) until batch 1's rewrites have been requested, which a run
    that scores every original before any rewrite would never do. ``on_start`` still comes
    once, before any batch lands, with every original and no rewrite counted; each landed
    batch sees the whole plan counted; the table is the batch loop's."""
    first_batch = threading.Event()
    pieces: list[int] = []
    at_first_batch: list[int] = []
    events: list[tuple[str, int, int]] = []

    def rm(prompts, responses):
        if not any("(" in r for r in responses):  # originals
            if pieces:
                first_batch.wait(5)
            pieces.append(len(responses) // 2)
        return reward(prompts, responses)

    def on_start(index):
        if index == 1:
            at_first_batch.append(len(pieces))
            first_batch.set()

    res = explainer(Streaming(on_start=on_start), rm, lookahead=2).explain(
        comps(12),
        on_start=lambda o, s: events.append(("start", len(o), s.work_items)),
        on_batch=lambda f: events.append(("batch", len(f), 0)),
    )
    assert pieces == [2, 4, 6] and at_first_batch == [1] and first_batch.is_set()
    assert events[0] == ("start", 12, 0) and [e[0] for e in events].count("start") == 1
    assert len(events) == 1 + 12 and res.stats.work_items == 48
    plain = explainer(Streaming(), lookahead=0).explain(comps(12))
    pd.testing.assert_frame_equal(res.table, plain.table)
    pd.testing.assert_frame_equal(res.originals, plain.originals)


def test_the_progress_total_is_the_whole_chunk_s_from_the_first_landed_batch():
    totals: list[tuple[int, int]] = []
    ex = explainer(Streaming(delay=0.01), lookahead=3)
    stats_box = {}
    ex.explain(
        comps(9),
        on_start=lambda o, s: stats_box.setdefault("s", s),
        on_batch=lambda f: totals.append((stats_box["s"].work_done, stats_box["s"].work_items)),
    )
    assert totals == [(4 * i, 36) for i in range(1, 10)]


def test_cancel_keeps_the_originals_of_whole_chunks_as_the_batch_loop_does():
    """Chunks of 4 comparisons, 1 a batch, lookahead 4: when batch 1 lands the pipeline has
    asked for batch 5, so the second chunk's first piece (2 comparisons) is planned; a Cancel
    then plans the rest of that chunk, as the batch loop would have planned it whole."""
    cancel, starts = threading.Event(), []
    ex = explainer(Streaming(), lookahead=4, chunk=4)
    res = ex.explain(
        comps(12),
        cancel=cancel,
        on_start=lambda o, s: starts.append(len(o)),
        on_batch=lambda f: cancel.set(),
    )
    assert res.stats.cancelled and len(res.table) == 4
    assert starts == [4, 8] and len(res.originals) == 8

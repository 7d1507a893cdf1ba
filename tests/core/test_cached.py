"""The caching wrappers on their own: one claim/poll/store helper behind perturbations and
scores (the kill, resume and two-process guarantees are exercised end to end in
tests/robustness/test_faults.py and tests/core/test_resume.py)."""

from __future__ import annotations

import threading

import pytest

from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.cached import CachedPerturber, CachedRewardModel, claim_or_wait
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
    ProtocolPerturber,
)
from rmx_widgets.core.reward_models.base import BaseRewardModel
from rmx_widgets.core.store import Store

VERBOSITY = get_attribute("verbosity")


def _reqs(*responses: str) -> list[PerturbationRequest]:
    return [PerturbationRequest("p", r, VERBOSITY, "worse") for r in responses]


class _Longer(BasePerturber):
    identity = "longer:v1"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def perturb(self, request):
        self.asked.append(request.response)
        return PerturbationResult(request.response + " (longer)")


class _Batch:
    identity = "batch:v1"

    def perturb_batch(self, requests):
        return [PerturbationResult(r.response + " (longer)") for r in requests]


def _transactions(store: Store, fn) -> int:
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        fn()
    finally:
        store._db.set_trace_callback(None)
    return sum(q.startswith("BEGIN") for q in statements)


def test_waits_for_a_result_another_owner_is_computing(tmp_path):
    path = tmp_path / "s.sqlite"
    mine, other = Store(path), Store(path)  # two live owners, as two processes would be
    assert other.claim(["k"]) == {"k"}
    threading.Timer(0.2, lambda: other.put_scores([("k", "rm", 1.5)])).start()

    def compute(keys):
        raise AssertionError("a key claimed by a live owner was computed again")

    got = claim_or_wait(mine, "scores", ["k", "k"], mine.get_scores, compute)
    assert got.values == [1.5, 1.5] and (got.computed, got.cached, got.elsewhere) == (0, 2, 1)
    assert mine.open_claims() == 0


def test_claims_are_released_when_computing_fails(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    calls: list[list[str]] = []

    def compute(keys):
        calls.append(keys)
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="crashed"):
        claim_or_wait(store, "scores", ["a", "b", "a"], store.get_scores, compute)
    assert calls == [["a", "b"]]  # identical keys of one call are computed once
    assert store.open_claims() == 0 and store.counts()["scores"] == 0


def test_streaming_perturber_stores_each_result_in_its_own_transaction(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    pert = _Longer()
    cached = CachedPerturber(pert, store)
    n = _transactions(store, lambda: cached.perturb_batch(_reqs("a", "b", "c", "a")))
    assert n == 1 + 3  # the claim, then one write per distinct request
    assert pert.asked == ["a", "b", "c"]
    again = CachedPerturber(pert, store).perturb_batch(_reqs("c", "a", "d"))
    assert [r.text for r in again.values] == ["c (longer)", "a (longer)", "d (longer)"]
    assert (again.computed, again.cached) == (1, 2) and pert.asked[-1] == "d"
    assert store.open_claims() == 0


def test_non_streaming_perturber_is_stored_once_per_batch(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    cached = CachedPerturber(ProtocolPerturber(_Batch()), store)
    got = []
    n = _transactions(store, lambda: got.append(cached.perturb_batch(_reqs("a", "b", "c"))))
    assert n == 1 + 1 and got[0].computed == 3
    assert store.counts()["perturbations"] == 3 and store.open_claims() == 0


def test_results_are_checked_and_unnamed_failures_are_other(tmp_path):
    class Odd(BasePerturber):
        identity = "odd:v1"

        def perturb_batch(self, requests, on_result=None):
            return [
                PerturbationResult(requests[0].response),  # unchanged: caught here
                PerturbationResult(None, "the text says unchanged"),  # no kind named
                PerturbationResult.failed("connection reset", FailureKind.EXCEPTION),
            ]

    store = Store(tmp_path / "s.sqlite")
    cached = CachedPerturber(Odd(), store)
    got = cached.perturb_batch(_reqs("a", "b", "c")).values
    assert [r.kind for r in got] == [
        FailureKind.UNCHANGED,
        FailureKind.OTHER,
        FailureKind.EXCEPTION,
    ]
    reread = Store(tmp_path / "s.sqlite").get_perturbations(
        [cached.key(r) for r in _reqs("a", "b", "c")]
    )
    assert [reread[cached.key(r)] for r in _reqs("a", "b", "c")] == got


def test_a_result_for_a_request_outside_the_batch_is_an_error(tmp_path):
    class Wrong(BasePerturber):
        identity = "wrong:v1"

        def perturb_batch(self, requests, on_result=None):
            on_result(len(requests), PerturbationResult("x"))
            return []

    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(PerturberError, match="reported a result for request 2 of a batch of 2"):
        CachedPerturber(Wrong(), store).perturb_batch(_reqs("a", "b"))
    assert store.open_claims() == 0


def test_scores_are_cached_with_their_truncation_flags(tmp_path):
    class Cutting(BaseRewardModel):
        identity = "cutting:v1"

        def __init__(self):
            self.scored: list[str] = []

        def score(self, prompts, responses):
            self.scored += responses
            self.last_truncated = [i for i, r in enumerate(responses) if len(r) > 3] + [99]
            return [float(len(r)) for r in responses]

    store = Store(tmp_path / "s.sqlite")
    rm = Cutting()
    first = CachedRewardModel(rm, store).score(["p"] * 3, ["ab", "abcdef", "ab"])
    assert first.values == [2.0, 6.0, 2.0] and first.truncated == [False, True, False]
    assert (first.computed, first.cached, first.newly_truncated) == (2, 1, 1)
    again = CachedRewardModel(rm, store).score(["p", "p"], ["abcdef", "xyz"])
    assert again.truncated == [True, False] and again.newly_truncated == 0
    assert rm.scored == ["ab", "abcdef", "xyz"]


def test_unstorable_rewrites_become_stored_failures_and_reasons_are_escaped():
    """A lone surrogate made the store insert raise (UnicodeEncodeError) on every run; NUL and
    terminal escape codes went into the table raw. Each is a failed rewrite naming the
    character, stored, so a second call computes nothing; reasons quoting such text are
    stored escaped."""
    calls = []

    class Bad(BasePerturber):
        identity = "bad-text:v1"

        def perturb(self, request):
            calls.append(request.response)
            if request.response == "raise":
                raise ValueError("bad \ud83d \x1b[2J")
            return {"s": "ok \ud83d", "n": "a\x00b", "e": "x \x1b[31mred"}[request.response]

    store = Store()
    cached = CachedPerturber(Bad(), store)
    got = cached.perturb_batch(_reqs("s", "n", "e", "raise")).values
    assert [r.text for r in got] == [None] * 4
    assert [r.kind for r in got] == [FailureKind.UNPARSEABLE] * 3 + [FailureKind.EXCEPTION]
    assert got[0].failure == (
        "the rewrite holds a lone surrogate at character 3 (U+D83D), which cannot be stored "
        "as UTF-8; rewrites must be plain text"
    )
    assert "at character 1 (U+0000, NUL)" in got[1].failure
    assert "at character 2 (U+001B, ESC, which starts terminal escape codes)" in got[2].failure
    assert got[3].failure == "ValueError: bad \\ud83d \\x1b[2J"  # escaped, so storable
    again = CachedPerturber(Bad(), store).perturb_batch(_reqs("s", "n", "e", "raise"))
    assert again.computed == 0 and len(calls) == 4
    assert [(r.failure, r.kind) for r in again.values] == [(r.failure, r.kind) for r in got]

"""Caching as a wrapper around a model: ``CachedPerturber`` and ``CachedRewardModel``.

Rewrites cost LLM calls and scores cost GPU time, so each is computed once per store and kept
(``core.store``). The Explainer does not deal with this itself: it asks these wrappers, which
answer from the store, compute only what is missing and write each result back the moment it
exists. Both go through one helper, ``claim_or_wait``, so perturbations and scores get the same
guarantees:

- nothing stored is computed again, and identical inputs of one call are computed once;
- before computing, the keys are claimed in the store, so several processes on one store split
  the work instead of doubling it; a process waits (polling) for results another one is
  computing and takes over claims whose owner died (see ``Store.claim``);
- every result is stored in a transaction that also releases its claim, and whatever was not
  stored is released on the way out (also on an error), so two processes never wait on each
  other and a killed job loses only the work in flight.

``CachedPerturber`` stores each rewrite as the perturber reports it (``on_result``) when the
perturber declares ``streams_results``, so a job killed in the middle of a 64-request batch of LLM
calls keeps the replies that already came back; other perturbers are stored when their batch
returns. Pairwise judges' P(a ≻ b) are cached the same way, by ``core.pair_scores``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from rmx_widgets.core.data import Prompt, prompt_key, safe_text
from rmx_widgets.core.errors import PerturberError
from rmx_widgets.core.failures import FailureKind
from rmx_widgets.core.perturbers.base import (
    PerturbationRequest,
    PerturbationResult,
    Perturber,
    check_rewrite,
)
from rmx_widgets.core.reward_models.base import (
    MultiObjectiveRewardModel,
    RewardModel,
    checked_objective_scores,
    checked_scores,
    objective_identity,
    truncated_indices,
)
from rmx_widgets.core.store import Store, content_key

_POLL_START, _POLL_MAX = 0.01, 0.2  # seconds between looks at results another process owes us

V = TypeVar("V")


@dataclass
class Cached(Generic[V]):
    """The values of one call, one per input, and where they came from.

    ``computed`` inputs were computed (and stored) by this call; the other ``cached`` ones came
    from the store or repeat an input of the same call; ``elsewhere`` of those were computed by
    another process while this one waited for them.
    """

    values: list[V]
    computed: int
    cached: int
    elsewhere: int


def claim_or_wait(
    store: Store,
    table: Literal["perturbations", "scores", "verdicts", "pair_scores"],
    keys: Sequence[str],
    lookup: Callable[[list[str]], Mapping[str, V]],
    compute: Callable[[list[str]], Mapping[str, V]],
) -> Cached[V]:
    """The value of every key: from ``table`` of the store, computed here, or computed by
    another process on the same store (waited for).

    ``compute(mine)`` gets distinct keys this process has claimed. It must store each result
    (in as many transactions as it likes: a store write also releases that key's claim) and
    return the values it stored. Claims it did not store are released here, whether it returns
    or raises, so this process holds no claim while it waits for others.
    """
    found: dict[str, V] = dict(lookup(list(keys)))
    pending = [k for k in dict.fromkeys(keys) if k not in found]
    computed = elsewhere = 0
    delay = _POLL_START
    while pending:
        claimed = store.claim(pending, done_in=table)
        mine = [k for k in pending if k in claimed]
        if mine:
            done: Mapping[str, V] = {}
            try:
                done = compute(mine)
            finally:
                store.release([k for k in mine if k not in done])
            found.update(done)
            computed += len(mine)
            pending = [k for k in pending if k not in claimed]
            delay = _POLL_START
            if not pending:
                break
        got = lookup(pending)  # finished elsewhere, or still claimed by others
        found.update(got)
        elsewhere += len(got)
        pending = [k for k in pending if k not in got]
        if pending and not mine and not got:
            time.sleep(delay)
            delay = min(_POLL_MAX, delay * 2)
    return Cached(
        values=[found[k] for k in keys],
        computed=computed,
        cached=len(keys) - computed,
        elsewhere=elsewhere,
    )


def checked_result(request: PerturbationRequest, result: object) -> PerturbationResult:
    """A perturber's result as it is stored: a rewrite gets the checks every backend's output
    gets (``check_rewrite``; backends are not trusted to have run them), and a failure whose
    creator named no kind is recorded as ``FailureKind.OTHER`` (never guessed from its text).
    A failure's reason may quote untrusted text (an exception's message, a reply): its control
    characters and lone surrogates are escaped (``data.safe_text``), so it can be stored and
    printed."""
    if not isinstance(result, PerturbationResult):
        return check_rewrite(request.response, result)
    if result.failure is None:
        return check_rewrite(request.response, result.text)
    kind = FailureKind.OTHER if result.text is None and result.kind is None else result.kind
    reason = safe_text(str(result.failure))
    if (reason, kind) == (result.failure, result.kind):
        return result
    return PerturbationResult(result.text, reason, kind)


class CachedPerturber:
    """``perturber`` through ``store``: each distinct request is perturbed at most once.

    The cache key covers the perturber's ``identity``, the attribute's fingerprint, the
    direction, the prompt and the response, so a changed template, model or attribute
    definition never reuses a stale rewrite.
    """

    def __init__(self, perturber: Perturber, store: Store) -> None:
        self.perturber = perturber
        self.store = store

    def key(self, request: PerturbationRequest) -> str:
        return content_key(
            "perturbation",
            self.perturber.identity,
            request.attribute.fingerprint,
            request.direction,
            prompt_key(request.prompt),
            request.response,
        )

    def perturb_batch(self, requests: Sequence[PerturbationRequest]) -> Cached[PerturbationResult]:
        """One checked result per request, in order (see ``checked_result``)."""
        keys = [self.key(r) for r in requests]
        first: dict[str, PerturbationRequest] = {}
        for k, r in zip(keys, requests):
            first.setdefault(k, r)
        return claim_or_wait(
            self.store,
            "perturbations",
            keys,
            self.store.get_perturbations,
            lambda mine: self._perturb([(k, first[k]) for k in mine]),
        )

    def _perturb(
        self, work: list[tuple[str, PerturbationRequest]]
    ) -> dict[str, PerturbationResult]:
        """Perturb the claimed ``(key, request)`` pairs, storing each result in its own
        transaction as it is reported, and the rest when the batch returns."""
        requests = [r for _, r in work]
        stored: dict[int, PerturbationResult] = {}
        lock = threading.Lock()  # a perturber may report from its own threads

        def row(j: int, result: PerturbationResult) -> tuple:
            key, request = work[j]
            return (key, self.perturber.identity, request.attribute.name, request.direction, result)

        def on_result(j: int, result: PerturbationResult) -> None:
            if not isinstance(j, int) or not 0 <= j < len(requests):
                raise PerturberError(
                    f"{self.perturber.identity} reported a result for request "
                    f"{j!r} of a batch of {len(requests)}."
                )
            with lock:
                if j in stored:
                    return
                checked = checked_result(requests[j], result)
                self.store.put_perturbations([row(j, checked)])
                stored[j] = checked

        if self.perturber.streams_results:
            results = self.perturber.perturb_batch(requests, on_result=on_result)
        else:
            results = self.perturber.perturb_batch(requests)
        if len(results) != len(requests):
            raise PerturberError(
                f"{self.perturber.identity} returned {len(results)} "
                f"results for {len(requests)} requests."
            )
        with lock:
            rest = {
                j: checked_result(requests[j], res)
                for j, res in enumerate(results)
                if j not in stored
            }
            if rest:  # one transaction for everything not reported on the way
                self.store.put_perturbations([row(j, res) for j, res in rest.items()])
                stored.update(rest)
            return {work[j][0]: res for j, res in stored.items()}


@dataclass
class CachedScores(Cached[float]):
    """``Cached`` rewards, with ``truncated``: per input, whether the RM cut it to score it (as
    recorded with its score), and ``newly_truncated``: how many of the inputs this call
    scored the RM cut."""

    truncated: list[bool]
    newly_truncated: int


class CachedRewardModel:
    """``rm`` through ``store``: each distinct (prompt, response) is scored at most once, and
    every score is checked (``checked_scores``) before it can be stored.

    A multi-objective RM (``MultiObjectiveRewardModel``) is scored with ``score_objectives``:
    its combined reward is stored as the score, and each objective's reward beside it, keyed
    like a score under ``objective_identity(rm.identity, name)``, so ``objective_scores``
    answers from the store without another forward pass."""

    def __init__(self, rm: RewardModel, store: Store) -> None:
        self.rm = rm
        self.store = store
        self.objectives: tuple[str, ...] = (
            tuple(rm.objectives) if isinstance(rm, MultiObjectiveRewardModel) else ()
        )

    def key(self, prompt: Prompt, response: str) -> str:
        return content_key("score", self.rm.identity, prompt_key(prompt), response)

    def objective_key(self, objective: str, prompt: Prompt, response: str) -> str:
        identity = objective_identity(self.rm.identity, objective)
        return content_key("score", identity, prompt_key(prompt), response)

    def _rewards(
        self, prompts: Sequence[Prompt], responses: Sequence[str]
    ) -> tuple[list[float], list[tuple]]:
        """The checked combined rewards, and the store rows of every objective's reward (none
        for a one-objective RM); ``truncated`` of each is the RM's report for the input."""
        if not isinstance(self.rm, MultiObjectiveRewardModel) or not self.objectives:
            return checked_scores(self.rm, prompts, responses), []
        got = checked_objective_scores(self.rm, prompts, responses)
        cut = set(truncated_indices(self.rm, len(responses)))
        rows = [
            (
                self.objective_key(name, p, r),
                objective_identity(self.rm.identity, name),
                got.objectives[name][j],
                j in cut,
            )
            for name in self.objectives
            for j, (p, r) in enumerate(zip(prompts, responses))
        ]
        return got.combined, rows

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> CachedScores:
        keys = [self.key(p, r) for p, r in zip(prompts, responses)]
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        cut_here = 0

        def compute(mine: list[str]) -> dict[str, float]:
            nonlocal cut_here
            idx = [first[k] for k in mine]
            rewards, objective_rows = self._rewards(
                [prompts[i] for i in idx], [responses[i] for i in idx]
            )
            cut = set(truncated_indices(self.rm, len(idx)))
            self.store.put_scores(
                objective_rows
                + [
                    (k, self.rm.identity, r, j in cut)
                    for j, (k, r) in enumerate(zip(mine, rewards))
                ]
            )
            cut_here += len(cut)
            return dict(zip(mine, rewards))

        got = claim_or_wait(self.store, "scores", keys, self.store.get_scores, compute)
        truncated = self.store.get_truncated(keys)
        return CachedScores(
            values=got.values,
            computed=got.computed,
            cached=got.cached,
            elsewhere=got.elsewhere,
            truncated=[k in truncated for k in keys],
            newly_truncated=cut_here,
        )

    def objective_scores(
        self, prompts: Sequence[Prompt], responses: Sequence[str]
    ) -> dict[str, list[float]]:
        """Each objective's reward of every (prompt, response), by objective name (empty for
        a one-objective RM): from the store, where ``score`` put them, else scored now with
        ``score_objectives`` and stored (the combined reward is left to ``score``, whose keys
        this call has not claimed)."""
        if not self.objectives:
            return {}
        pairs = list(zip(prompts, responses))
        keys = [self.objective_key(n, p, r) for n in self.objectives for p, r in pairs]
        where = {k: j % len(pairs) for j, k in enumerate(keys)} if pairs else {}

        def compute(mine: list[str]) -> dict[str, float]:
            idx = sorted({where[k] for k in mine})
            ps, rs = [prompts[i] for i in idx], [responses[i] for i in idx]
            _, rows = self._rewards(ps, rs)
            self.store.put_scores(rows)
            return {row[0]: row[2] for row in rows}

        got = claim_or_wait(self.store, "scores", keys, self.store.get_scores, compute)
        n = len(pairs)
        return {name: got.values[j * n : (j + 1) * n] for j, name in enumerate(self.objectives)}

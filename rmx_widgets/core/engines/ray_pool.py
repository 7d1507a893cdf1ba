"""A pool of Ray actors that each hold one model, with chunks retried when an actor dies.

Each actor builds its model once from a ``Recipe`` (``core.engines.recipe``) and keeps it warm
for the whole run. ``ActorPool.map`` splits a call's inputs into one chunk per live actor, runs
them in parallel and returns the outputs in input order. An actor that dies (killed, its node
lost, out of memory) loses only the chunk it was computing: the pool starts a replacement actor
from the same recipe and runs the chunk again on whichever actor is free, at most
``max_retries`` times per chunk. An error *raised by the model* is not an actor death and is
raised to the caller unchanged, as the in-process engine would.

Actors compute; they never write to the store. The driver stores what they return (see
``core.engines.ray_engine``), so exactly-once storing and the claims are the in-process ones.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any

from rmx_widgets.core.engines.recipe import EngineError, Recipe


@dataclasses.dataclass(frozen=True)
class ModelDescription:
    """A worker's model as the driver sees it without loading it: its ``identity`` (the cache
    key), ``summary`` (its repr), ``why_unavailable()``, its ``objectives`` (a
    multi-objective RM; else ``None``) and whether it is a pairwise judge."""

    identity: str
    summary: str
    unavailable: str | None
    objectives: tuple[str, ...] | None
    pairwise: bool

    def why_unavailable(self) -> str | None:
        return self.unavailable

    def __repr__(self) -> str:
        return self.summary


class ModelWorker:
    """The actor's body (``ray.remote`` is applied by ``ActorPool``): one model, built once."""

    def __init__(self, recipe: Recipe) -> None:
        self.model = recipe.build()

    def ready(self) -> str:
        return str(self.model.identity)

    def describe(self) -> ModelDescription:
        """What the driver needs of a model it never loads (``RayEngine.remote_reward_model``)."""
        from rmx_widgets.core.reward_models.base import MultiObjectiveRewardModel, PairwiseJudge

        objectives = (
            tuple(str(o) for o in self.model.objectives)
            if isinstance(self.model, MultiObjectiveRewardModel)
            else None
        )
        return ModelDescription(
            identity=str(self.model.identity),
            summary=repr(self.model),
            unavailable=self.model.why_unavailable(),
            objectives=objectives,
            pairwise=isinstance(self.model, PairwiseJudge),
        )

    def score(self, prompts: list[Any], responses: list[str]) -> tuple[list[float], list[int]]:
        """Raw rewards and the indices the RM truncated (the driver checks the rewards)."""
        rewards = self.model.score(prompts, responses)
        rewards = rewards.tolist() if hasattr(rewards, "tolist") else list(rewards)
        return rewards, [int(i) for i in self.model.last_truncated]

    def score_objectives(
        self, prompts: list[Any], responses: list[str]
    ) -> tuple[list[float], dict[str, list[float]], list[int]]:
        """A multi-objective RM's combined and per-objective rewards, and what it truncated."""
        got = self.model.score_objectives(prompts, responses)
        objectives = {str(k): [float(x) for x in v] for k, v in got.objectives.items()}
        cut = [int(i) for i in self.model.last_truncated]
        return [float(x) for x in got.combined], objectives, cut

    def perturb(self, requests: list[Any]) -> list[Any]:
        return list(self.model.perturb_batch(requests))

    def pid(self) -> int:
        import os

        return os.getpid()


class ActorPool:
    """``size`` actors of ``recipe``, each reserving ``resources`` (``num_cpus``/``num_gpus``)."""

    def __init__(
        self, recipe: Recipe, size: int, resources: dict[str, float], max_retries: int = 3
    ) -> None:
        import ray

        self._ray: Any = ray  # (typed loosely: Ray is optional, and its stubs are overloads)
        self._cls = self._ray.remote(**resources)(ModelWorker)
        self.recipe, self.max_retries = recipe, max_retries
        self._lock = threading.Lock()
        self.actors: list[Any] = []
        self._busy: dict[Any, int] = {}
        self.restarts = self.retried_chunks = 0
        for _ in range(size):
            self._start()
        self._wait_ready(list(self.actors))

    def _start(self) -> Any:
        actor = self._cls.remote(self.recipe)
        with self._lock:
            self.actors.append(actor)
            self._busy[actor] = 0
        return actor

    def _wait_ready(self, actors: list[Any]) -> None:
        """Every actor built its model (a wrong identity or a load error is raised here). A
        recipe without an identity adopts the actors' one, which must be the same on every
        actor (each computes under it), and holds replacements to it from then on."""
        ray = self._ray
        try:
            identities = ray.get([a.ready.remote() for a in actors])
        except ray.exceptions.RayActorError as e:  # its __init__ raised: the model's error
            cause = getattr(e, "creation_task_error", None) or e
            raise EngineError(f"a Ray worker could not build its model: {cause}") from None
        if len(set(identities)) > 1:
            self.close()
            raise EngineError(
                f"the Ray workers built {self.recipe.role}s with different identities "
                f"({', '.join(sorted(set(identities)))}): their results would be stored "
                "under different keys. Make the same model (path, weights, code) available "
                "on every node."
            )
        if self.recipe.identity is None and identities:
            self.recipe = dataclasses.replace(self.recipe, identity=identities[0])

    def describe(self) -> ModelDescription:
        """The model as the first live actor built it (every actor's has its identity)."""
        with self._lock:
            if not self.actors:
                raise EngineError("every Ray worker of this run is gone.")
            actor = self.actors[0]
        return self._ray.get(actor.describe.remote())

    def _pick(self) -> Any:
        with self._lock:
            if not self.actors:
                raise EngineError("every Ray worker of this run is gone.")
            actor = min(self.actors, key=lambda a: self._busy[a])
            self._busy[actor] += 1
            return actor

    def _done(self, actor: Any) -> None:
        with self._lock:
            if actor in self._busy:
                self._busy[actor] -= 1

    def _replace(self, actor: Any) -> None:
        """Drop a dead actor and start another from the same recipe (once per death)."""
        with self._lock:
            if actor not in self._busy:
                return  # another thread replaced it already
            self.actors.remove(actor)
            del self._busy[actor]
            self.restarts += 1
        self._start()

    def map(
        self,
        method: str,
        chunks: Sequence[tuple[Any, ...]],
        on_chunk: Callable[[int, Any], None] | None = None,
    ) -> list[Any]:
        """``method(*chunk)`` on the actors, every chunk at once; the outputs in chunk order.
        ``on_chunk(i, output)`` hears about each chunk as it finishes."""
        ray = self._ray
        out: dict[int, Any] = {}
        tries = dict.fromkeys(range(len(chunks)), 0)
        running: dict[Any, tuple[int, Any]] = {}

        def submit(i: int) -> None:
            actor = self._pick()
            running[getattr(actor, method).remote(*chunks[i])] = (i, actor)

        for i in range(len(chunks)):
            submit(i)
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                ref = ready[0]
                i, actor = running.pop(ref)
                self._done(actor)
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayActorError:
                    self._replace(actor)
                    tries[i] += 1
                    if tries[i] > self.max_retries:
                        raise EngineError(
                            f"a chunk of {len(chunks[i][0])} inputs lost its Ray worker "
                            f"{tries[i]} times; giving up."
                        ) from None
                    with self._lock:
                        self.retried_chunks += 1
                    submit(i)
                    continue
                out[i] = value
                if on_chunk is not None:
                    on_chunk(i, value)
        finally:
            for _, actor in running.values():  # (an error: the rest finish unheard)
                self._done(actor)
        return [out[i] for i in range(len(chunks))]

    def close(self) -> None:
        with self._lock:
            actors, self.actors, self._busy = self.actors, [], {}
        for actor in actors:
            self._ray.kill(actor)


def split(n: int, parts: int) -> list[range]:
    """``range(n)`` in at most ``parts`` contiguous, near-equal, non-empty pieces."""
    parts = max(1, min(parts, n))
    base, extra = divmod(n, parts)
    pieces, start = [], 0
    for p in range(parts):
        stop = start + base + (p < extra)
        pieces.append(range(start, stop))
        start = stop
    return pieces

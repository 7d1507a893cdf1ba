"""``engine="ray"``: the Explainer's models run on Ray actors, the driver stores every result.

Why actors and not Ray Data: a run's guarantees (claims, exactly-once storing, resume) come
from one writer going through ``CachedPerturber`` / ``CachedRewardModel`` on one SQLite store,
and a model should be loaded once per worker and stay warm across the whole run. Actors give
both: the driver keeps the in-process engine unchanged (planning, the streaming pipeline of
``core.pipeline``, landing, the validity judge, effects) and only the RM's and the perturber's
calls leave the process (a null perturber, attribute-blind and cheap, rewrites on the driver;
its rewrites are scored on the actors). ``RayRewardModel`` and ``RayPerturber`` stand in for
the driver's models with the *same identity* (so the same cache keys: a study started on a laptop
resumes on a cluster and back); each call is split into one chunk per actor and the outputs
come back in order. Ray Data would own the scheduling and write from many workers, which
needs shards merged after the fact and gives no single point to claim and store.

- A multi-objective RM (``MultiObjectiveRewardModel``) gets ``RayMultiObjectiveRewardModel``:
  its objectives are scored on the actors in the same pass, so the table keeps its
  ``objective.<name>.delta`` columns.
- RM scoring: one actor per GPU (``num_gpus=1``) when the cluster has GPUs, else ``workers``
  CPU actors (``num_cpus=1``), each loading the RM once from its ``Recipe``.
- Rewrites: ``workers`` perturber actors (``perturber_cpus`` each, default 0: an LLM
  perturber waits on its server; give a CPU-bound local one 1). Each chunk's rewrites are
  handed to the driver's cache as the chunk finishes (``streams_results``), so they are
  stored before the rest of the batch; the pipeline keeps the next batches' rewrites in
  flight while the RM scores (``ConcurrentBatches``: the actors are separate processes).
- The driver need not load the RM at all: ``RayEngine.remote_reward_model(spec)`` builds it on
  the scoring actors only and takes their identity (a 16 GB checkpoint is read by the GPU
  nodes, not by a driver that may have neither the memory nor the GPU, and the identity is the
  dtype the actors score in: bfloat16 on a GPU actor where the driver's CPU copy would say
  float32, so the keys follow the numbers). ``rmx explain --engine ray`` does this.
- A killed actor loses only its chunk in flight (``ActorPool``: retried on a replacement).
  A killed driver loses only what was not stored; its actors go with it (Ray ends actors whose
  owner died) and a rerun, on any engine, resumes from the store.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from rmx_widgets.core.attributes import Attribute
from rmx_widgets.core.data import Prompt
from rmx_widgets.core.engines.ray_pool import ActorPool, ModelDescription, split
from rmx_widgets.core.engines.recipe import EngineError, Recipe
from rmx_widgets.core.perturbers.base import (
    BasePerturber,
    PerturbationRequest,
    PerturbationResult,
    Perturber,
    ResultCallback,
)
from rmx_widgets.core.reward_models.base import (
    BaseRewardModel,
    MultiObjectiveRewardModel,
    ObjectiveScores,
    PairwiseJudge,
    RewardModel,
)

RAY_MISSING = "engine 'ray' needs Ray, which is not installed: pip install 'rmx-widgets[ray]'"
PAIRWISE_REFUSED = (
    "engine 'ray' runs scalar reward models; run a pairwise judge with the default engine."
)


def import_ray() -> Any:
    """Ray, or an ``EngineError`` saying in one line how to install it."""
    try:
        import ray
    except ImportError:
        raise EngineError(RAY_MISSING) from None
    return ray


class RayEngine:
    """Where and how wide to run: ``address`` (``None``: the Ray instance this process is
    connected to, else a new local one; ``"auto"``: the cluster of this node;
    ``"ray://host:10001"``: a remote cluster through Ray Client), ``workers`` (CPU actors when
    the cluster has no GPUs; default: its CPU count, at most 8), ``perturber_cpus`` (CPUs each
    perturber actor reserves) and the specs the actors build the models from (``rm_spec`` /
    ``perturber_spec`` with their keyword ``*_options``, as ``core.specs`` reads them; without
    one the driver's object is pickled to the actors)."""

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        perturber_cpus: float = 0.0,
        rm_spec: str | None = None,
        rm_options: Mapping[str, Any] | None = None,
        perturber_spec: str | None = None,
        perturber_options: Mapping[str, Any] | None = None,
        max_retries: int = 3,
    ) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
            raise EngineError(f"workers must be a whole number of at least 1, got {workers!r}.")
        if workers is not None and workers < 1:
            raise EngineError(f"workers must be a whole number of at least 1, got {workers!r}.")
        self.ray = import_ray()
        self.address, self.workers, self.perturber_cpus = address, workers, perturber_cpus
        self.rm_spec, self.rm_options = rm_spec, dict(rm_options or {})
        self.perturber_spec, self.perturber_options = perturber_spec, dict(perturber_options or {})
        self.max_retries = max_retries
        self.pools: list[ActorPool] = []

    def _connect(self) -> None:
        if not self.ray.is_initialized():
            self.ray.init(address=self.address, include_dashboard=False, log_to_driver=False)

    def _layout(self) -> tuple[int, dict[str, float], int]:
        """(scoring actors, each one's resources, perturber actors) for this cluster."""
        resources = self.ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = max(1, int(resources.get("CPU", 1)))
        width = self.workers or min(8, cpus)
        if gpus:
            return gpus, {"num_gpus": 1}, width
        return width, {"num_cpus": 1}, width

    def distribute(
        self, rm: RewardModel, perturber: Perturber
    ) -> tuple[RayRewardModel, RayPerturber]:
        """Stand-ins for the driver's ``rm`` and ``perturber`` whose calls run on Ray actors
        (started here, each building its model once); an ``rm`` from this engine's
        :meth:`remote_reward_model` is used as it is."""
        remote_rm = rm if isinstance(rm, RayRewardModel) and rm.pool in self.pools else None
        if remote_rm is None and isinstance(rm, PairwiseJudge):
            raise EngineError(PAIRWISE_REFUSED)
        self._connect()
        n_rm, rm_resources, n_rewriters = self._layout()
        if remote_rm is None:
            rm_recipe = Recipe.of("rm", rm, self.rm_spec, self.rm_options)
            remote_rm = self._remote_rm(rm, self._pool(rm_recipe, n_rm, rm_resources))
        p_recipe = Recipe.of("perturber", perturber, self.perturber_spec, self.perturber_options)
        rewriters = self._pool(p_recipe, n_rewriters, {"num_cpus": self.perturber_cpus})
        return remote_rm, RayPerturber(perturber, rewriters)

    def remote_reward_model(
        self, spec: str, options: Mapping[str, Any] | None = None
    ) -> RayRewardModel:
        """The RM ``spec`` names (``core.specs``, with its keyword ``options``), built on the
        scoring actors only: the driver never loads it. Its identity (the cache key) is the
        actors' copy's, e.g. ``hf:/models/rm:bfloat16`` on GPU actors; pass ``dtype=`` in
        ``options`` to pin it (a study begun in float32 on a laptop resumes on GPUs only
        under ``dtype="fp32"``). Pass the result to ``Explainer(rm, …, engine=self)``."""
        self._connect()
        n_rm, rm_resources, _ = self._layout()
        pool = self._pool(
            Recipe("rm", None, spec=spec, options=dict(options or {})), n_rm, rm_resources
        )
        description = pool.describe()
        if description.pairwise:
            pool.close()
            self.pools.remove(pool)
            raise EngineError(PAIRWISE_REFUSED)
        return self._remote_rm(description, pool)

    @staticmethod
    def _remote_rm(local: RewardModel | ModelDescription, pool: ActorPool) -> RayRewardModel:
        if isinstance(local, ModelDescription):
            if local.objectives is not None:
                return RayMultiObjectiveRewardModel(local, pool)
            return RayRewardModel(local, pool)
        if isinstance(local, MultiObjectiveRewardModel):
            return RayMultiObjectiveRewardModel(local, pool)
        return RayRewardModel(local, pool)

    def _pool(self, recipe: Recipe, size: int, resources: dict[str, float]) -> ActorPool:
        pool = ActorPool(recipe, size, resources, self.max_retries)
        self.pools.append(pool)
        return pool

    def close(self) -> None:
        """End this engine's actors (the Ray connection stays, for the caller to end)."""
        for pool in self.pools:
            pool.close()
        self.pools = []


class RayRewardModel(BaseRewardModel):
    """The driver's RM (``local``: its identity, availability; a ``ModelDescription`` when the
    driver has no copy) scoring on ``pool``'s actors."""

    def __init__(self, local: RewardModel | ModelDescription, pool: ActorPool) -> None:
        self.local, self.pool = local, pool
        self.identity = local.identity
        self.last_truncated: Sequence[int] = []
        self._calls = self._inputs = 0

    def __repr__(self) -> str:
        return f"RayRewardModel({self.local!r}, actors={len(self.pool.actors)})"

    @property
    def stats(self) -> Mapping[str, int]:  # type: ignore[override]
        return {
            "calls": self._calls,
            "inputs": self._inputs,
            "actor_restarts": self.pool.restarts,
            "retried_chunks": self.pool.retried_chunks,
        }

    def why_unavailable(self) -> str | None:
        return self.local.why_unavailable()

    def score(self, prompts: Sequence[Prompt], responses: Sequence[str]) -> list[float]:
        pieces = split(len(responses), len(self.pool.actors))
        chunks = [([prompts[i] for i in r], [responses[i] for i in r]) for r in pieces]
        outs = self.pool.map("score", chunks) if responses else []
        rewards: list[float] = []
        cut: list[int] = []
        for r, (values, truncated) in zip(pieces, outs):
            rewards.extend(values)
            cut.extend(r.start + int(i) for i in truncated)
        self.last_truncated = cut
        self._calls += 1
        self._inputs += len(responses)
        return rewards


class RayMultiObjectiveRewardModel(RayRewardModel):
    """``RayRewardModel`` of a multi-objective RM: it declares the local one's objectives, and
    ``score_objectives`` runs on the actors (one pass for every objective, as in-process)."""

    def __init__(
        self, local: MultiObjectiveRewardModel | ModelDescription, pool: ActorPool
    ) -> None:
        super().__init__(local, pool)  # type: ignore[arg-type]
        self.objectives: tuple[str, ...] = tuple(local.objectives or ())

    def score_objectives(
        self, prompts: Sequence[Prompt], responses: Sequence[str]
    ) -> ObjectiveScores:
        pieces = split(len(responses), len(self.pool.actors))
        chunks = [([prompts[i] for i in r], [responses[i] for i in r]) for r in pieces]
        outs = self.pool.map("score_objectives", chunks) if responses else []
        combined: list[float] = []
        objectives: dict[str, list[float]] = {name: [] for name in self.objectives}
        cut: list[int] = []
        for r, (values, per_objective, truncated) in zip(pieces, outs):
            combined.extend(values)
            for name, got in per_objective.items():
                objectives.setdefault(name, []).extend(got)
            cut.extend(r.start + int(i) for i in truncated)
        self.last_truncated = cut
        self._calls += 1
        self._inputs += len(responses)
        return ObjectiveScores(combined, objectives)


class RayPerturber(BasePerturber):
    """The driver's perturber (``local``: identity and declared capabilities) rewriting on
    ``pool``'s actors, each chunk reported (and so stored) as it finishes."""

    streams_results = True

    def __init__(self, local: Perturber, pool: ActorPool) -> None:
        self.local, self.pool = local, pool
        self.identity = local.identity
        self.attribute_aware = local.attribute_aware
        self._requests = 0
        self._lock = threading.Lock()  # the pipeline calls perturb_batch from several threads

    def __repr__(self) -> str:
        return f"RayPerturber({self.local!r}, actors={len(self.pool.actors)})"

    @property
    def batch_concurrency(self) -> int:
        """The actors, each working on its own chunk: ``core.pipeline`` keeps them busy."""
        return max(1, len(self.pool.actors))

    @property
    def stats(self) -> Mapping[str, int]:  # type: ignore[override]
        return {
            "requests": self._requests,
            "actor_restarts": self.pool.restarts,
            "retried_chunks": self.pool.retried_chunks,
        }

    def supports(self, attribute: Attribute) -> bool:
        return self.local.supports(attribute)

    def why_unavailable(self) -> str | None:
        return self.local.why_unavailable()

    def perturb_batch(
        self, requests: Sequence[PerturbationRequest], on_result: ResultCallback | None = None
    ) -> list[PerturbationResult]:
        if not requests:
            return []
        pieces = split(len(requests), len(self.pool.actors))
        chunks = [([requests[i] for i in r],) for r in pieces]

        def heard(k: int, results: list[PerturbationResult]) -> None:
            if on_result is not None:
                for j, res in zip(pieces[k], results):
                    on_result(j, res)

        outs = self.pool.map("perturb", chunks, heard)
        with self._lock:
            self._requests += len(requests)
        results: list[PerturbationResult] = []
        for r, got in zip(pieces, outs):
            if len(got) != len(r):
                raise EngineError(
                    f"{self.identity} returned {len(got)} results for {len(r)} requests."
                )
            results.extend(got)
        return results

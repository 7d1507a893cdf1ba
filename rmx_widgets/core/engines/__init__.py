"""Where a run's model calls execute: in this process (the default) or on a Ray cluster.

``resolve_engine`` reads the Explainer's ``engine=`` option: ``"local"`` (or ``None``) is the
in-process engine of ``core.explain`` / ``core.pipeline``; ``"ray"`` (or a configured
``RayEngine``) runs RM scoring and rewrites on Ray actors while the driver keeps planning and
storing (``core.engines.ray_engine``). Ray is an optional extra, imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rmx_widgets.core.engines.recipe import EngineError, Recipe

if TYPE_CHECKING:
    from rmx_widgets.core.engines.ray_engine import RayEngine
    from rmx_widgets.core.perturbers.base import Perturber
    from rmx_widgets.core.reward_models.base import RewardModel

ENGINES = ("local", "ray")

__all__ = ["ENGINES", "EngineError", "Recipe", "distribute", "resolve_engine"]


def resolve_engine(engine: Any) -> RayEngine | None:
    """``None`` for the in-process engine, else the ``RayEngine`` to run on (``"ray"``: one
    with the defaults). Without Ray installed, ``"ray"`` raises ``EngineError`` in one line
    saying how to install it."""
    if engine is None or engine == "local":
        return None
    if engine == "ray":
        from rmx_widgets.core.engines.ray_engine import RayEngine

        return RayEngine()
    from rmx_widgets.core.engines.ray_engine import RayEngine

    if isinstance(engine, RayEngine):
        return engine
    raise EngineError(f"engine must be one of {', '.join(ENGINES)} or a RayEngine, got {engine!r}.")


def distribute(
    engine: Any, rm: RewardModel, perturber: Perturber
) -> tuple[RewardModel, Perturber, RayEngine | None]:
    """The Explainer's dispatch: ``rm`` and ``perturber`` as they are for the in-process
    engine, else their stand-ins running on ``engine``'s workers, and that engine."""
    ray_engine = resolve_engine(engine)
    if ray_engine is None:
        return rm, perturber, None
    remote_rm, remote_perturber = ray_engine.distribute(rm, perturber)
    return remote_rm, remote_perturber, ray_engine

"""How a worker builds its own copy of a reward model or perturber: a picklable ``Recipe``.

A Ray worker is another process, often on another machine, so it cannot be handed the driver's
loaded model; it is handed how to build one and builds it once, when the worker starts. Two
kinds of recipe exist:

- a *spec* (``core.specs``: ``"hf:/models/rm"``, ``"rules"`` …) with its keyword options: the
  worker calls ``reward_model_from_spec`` / ``perturber_from_spec`` itself, so an 8B model's
  weights are read from disk (or the hub cache) on the worker, never shipped by the driver;
- the *object* itself, pickled (Ray uses cloudpickle): right for light objects (the transparent
  RM, the rule perturber, a scoring function) and the default when no spec is given.

Either way the worker's copy must have the driver's ``identity``: the identity is part of every
cache key, and the driver stores the workers' results under the keys of its own copy. A worker
whose copy differs (another checkpoint at the same path on that node, a changed function) is
refused with ``EngineError`` before it computes anything, so no result lands under the wrong key.
A recipe without an identity (``identity=None``: the driver has no copy, see
``RayEngine.remote_reward_model``) takes the first worker's, and ``ActorPool`` holds every
other worker, and every replacement, to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rmx_widgets.core.errors import RMXError

Role = Literal["rm", "perturber"]


class EngineError(RMXError):
    """A distributed engine cannot run this job as asked (a worker's model differs, …)."""


@dataclass(frozen=True)
class Recipe:
    """How to build one model on a worker: ``spec`` with ``options`` or a pickled ``obj``;
    ``identity`` is the driver's copy's, checked against what the worker built (``None``:
    not known yet, the first worker's is adopted)."""

    role: Role
    identity: str | None
    spec: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    obj: Any = None

    @classmethod
    def of(
        cls,
        role: Role,
        local: Any,
        spec: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Recipe:
        """The recipe of ``local`` (the driver's copy): its ``spec`` when one is given, else
        the object itself."""
        if spec is not None:
            return cls(role, local.identity, spec=spec, options=dict(options or {}))
        return cls(role, local.identity, obj=local)

    def build(self) -> Any:
        """Build the model on this worker and check its identity is the driver's."""
        from rmx_widgets.core.perturbers.base import as_perturber
        from rmx_widgets.core.reward_models.base import as_reward_model

        if self.spec is None:
            built = self.obj
        elif self.role == "rm":
            from rmx_widgets.core.specs import reward_model_from_spec

            built = reward_model_from_spec(self.spec, **self.options)
        else:
            from rmx_widgets.core.specs import perturber_from_spec

            built = perturber_from_spec(self.spec, **self.options)
        built = as_reward_model(built) if self.role == "rm" else as_perturber(built)
        if self.identity is not None and built.identity != self.identity:
            raise EngineError(
                f"a worker built the {self.role} {built.identity!r}, but the driver's is "
                f"{self.identity!r}: its results would be stored under another key. Make the "
                "same model (path, weights, code) available on every node."
            )
        return built

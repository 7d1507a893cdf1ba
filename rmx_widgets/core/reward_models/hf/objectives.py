"""Which outputs of a checkpoint are objectives: ``objectives=`` of ``HFRewardModel``.

A multi-objective RM (ArmoRM-style: one regression output per objective, e.g. helpfulness,
correctness, verbosity) has several outputs, each an objective's reward. ``objectives=`` says
which ones to keep and how the *combined* reward, the one the preference is explained with, is
made of them:

* ``"all"``: every output, named by the config's ``id2label``;
* a list of names: those outputs, each a name in ``id2label``; a config whose labels are all
  transformers' defaults (``LABEL_0``, ``LABEL_1``, …) says nothing about what its outputs
  mean, so the user may instead name *every* output, in output order;
* a mapping name → weight: those outputs, and the weights of the combined reward.

The combined reward is output ``head=N`` when one is given (a checkpoint whose output N is its
overall score), else the weighted sum of the objectives (weights from the mapping, else equal
weights 1/k: the mean). Objective names are never guessed from a list of known models: they
are the config's or the user's. Prompt-dependent gating (ArmoRM's custom modelling code) is
not read here: the combined reward is a fixed combination of the outputs.

Each objective's reward is cached like a score under ``objective_identity`` (``core.cached``);
the objectives and weights are part of the model's identity, so a different combination never
reuses another's combined scores.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rmx_widgets.core.errors import RewardModelError

ALL = "all"


@dataclass(frozen=True)
class ObjectivePlan:
    """The objectives chosen of a checkpoint: ``names`` (in order), the output ``columns``
    they are read from, the ``weights`` of the combined reward (None: output ``head``)."""

    names: tuple[str, ...]
    columns: tuple[int, ...]
    weights: tuple[float, ...] | None
    head: int | None

    @property
    def tag(self) -> str:
        """The identity suffix: ``:objectives=a,b`` plus the weights or the head when they are
        not the default equal weights."""
        names = ",".join(self.names)
        if self.head is not None:
            return f":objectives={names}:head={self.head}"
        k = len(self.names)
        if self.weights is not None and all(w == 1.0 / k for w in self.weights):
            return f":objectives={names}"
        return f":objectives={names}:weights={','.join(f'{w:g}' for w in self.weights or ())}"

    def combine(self, row: Sequence[float]) -> tuple[float, ...]:
        """(combined, objective 1, …, objective k) from one row of the head's outputs."""
        per = tuple(float(row[c]) for c in self.columns)
        if self.head is not None:
            return (float(row[self.head]), *per)
        weights = self.weights or ()
        return (math.fsum(w * r for w, r in zip(weights, per)), *per)


def check_objectives_arg(objectives: Any) -> None:
    """``objectives`` is None, ``"all"``, a non-empty list of distinct names or a mapping of
    names to finite weights."""
    if objectives is None or objectives == ALL:
        return
    if isinstance(objectives, Mapping):
        names = list(objectives)
        for n, w in objectives.items():
            if not isinstance(w, numbers.Real) or isinstance(w, bool) or not math.isfinite(w):
                raise RewardModelError(
                    f"objectives weight of {n!r} must be a finite number, got {w!r}."
                )
    elif isinstance(objectives, Sequence) and not isinstance(objectives, (str, bytes)):
        names = list(objectives)
    else:
        raise RewardModelError(
            f"objectives must be {ALL!r}, a list of output names or a mapping name -> weight, "
            f"got {objectives!r}."
        )
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise RewardModelError(
            f"objectives must name at least one output, each a non-empty string; got {names!r}."
        )
    if len(set(names)) != len(names):
        raise RewardModelError(f"objectives names must be distinct, got {names!r}.")


def output_labels(config: Any) -> list[str]:
    """The config's ``id2label`` names in output order (``LABEL_k`` where it has none)."""
    n = int(getattr(config, "num_labels", 1) or 1)
    id2label = {int(k): str(v) for k, v in dict(getattr(config, "id2label", None) or {}).items()}
    return [id2label.get(i, f"LABEL_{i}") for i in range(n)]


def plan_objectives(config: Any, objectives: Any, head: Any, name: str) -> ObjectivePlan:
    """The :class:`ObjectivePlan` of ``objectives`` for the checkpoint ``name`` whose config
    is ``config``, or ``RewardModelError`` in one line: a single-output model, a value head,
    an unknown objective name (with the model's names), a head out of range."""
    check_objectives_arg(objectives)
    labels = output_labels(config)
    n = len(labels)
    archs = list(getattr(config, "architectures", None) or [])
    if archs and not any("SequenceClassification" in a for a in archs):
        raise RewardModelError(
            f"objectives= reads the outputs of a sequence-classification model, but {name!r} "
            f"is a {', '.join(archs)} checkpoint."
        )
    if n < 2:
        raise RewardModelError(
            f"objectives= needs a model with several outputs, but {name!r} has one (its "
            "reward is its only objective); drop objectives=."
        )
    if head is not None and (isinstance(head, bool) or not isinstance(head, int)):
        raise RewardModelError(
            f"with objectives=, head= is the output index of the combined reward (an integer), "
            f"got {head!r}."
        )
    if head is not None and not 0 <= head < n:
        raise RewardModelError(f"head={head} is out of range: {name!r} has {n} outputs {labels}.")
    default = all(v == f"LABEL_{i}" for i, v in enumerate(labels))
    wanted = labels if objectives == ALL else [str(o) for o in objectives]
    if default and objectives != ALL and len(wanted) == n and set(wanted) != set(labels):
        columns = list(range(n))  # the user names every unnamed output, in order
    else:
        unknown = [o for o in wanted if o not in labels]
        if unknown:
            hint = (
                f" (its config names none: give {n} names, one per output in order)"
                if default
                else ""
            )
            raise RewardModelError(
                f"unknown objective {unknown[0]!r} for {name!r}: its outputs are {labels}{hint}."
            )
        columns = [labels.index(o) for o in wanted]
    if head is not None:
        weights = None
    elif isinstance(objectives, Mapping):
        weights = tuple(float(objectives[o]) for o in objectives)
    else:
        weights = tuple(1.0 / len(wanted) for _ in wanted)
    return ObjectivePlan(tuple(wanted), tuple(columns), weights, head)


class ObjectiveReadout:
    """The head's outputs of a batch read as (combined, objective 1, …, objective k) per row:
    what ``HFRewardModel`` computes in place of one column when it has objectives."""

    def __init__(self, plan: ObjectivePlan) -> None:
        self.plan = plan

    def __call__(self, logits: Any) -> list[tuple[float, ...]]:
        rows: list[list[float]] = logits.float().cpu().tolist()
        return [self.plan.combine(row) for row in rows]

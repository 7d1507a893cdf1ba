"""What a study is given, checked and named before anything runs: data sets, reward models,
perturbers, seeds, the seeded samples of comparisons and the attributes everyone shares.

Every mistake is reported here, with what to fix, instead of half-way through an hour of model
calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from rmx_widgets.core.attributes import DEFAULT_ATTRIBUTES, Attribute, resolve_attributes
from rmx_widgets.core.data import Comparison, load_comparisons
from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.perturbers.base import Perturber


class _Identified(Protocol):
    identity: str


T = TypeVar("T", bound=_Identified)


def named(objs: Any, what: str, convert: Callable[[Any], T]) -> dict[str, T]:
    """A mapping name → object, each object converted first (``as_reward_model`` /
    ``as_perturber``: a bare callable is wrapped); a plain sequence is named by each
    converted object's ``identity``."""
    if isinstance(objs, Mapping):
        pairs = [(name, convert(obj)) for name, obj in objs.items()]
    elif isinstance(objs, Sequence) and not isinstance(objs, str):
        pairs = []
        for obj in objs:
            converted = convert(obj)
            pairs.append((str(converted.identity), converted))
    else:
        raise RMXError(
            f"give the {what}s as a list or a dict {{name: {what}}}, got {type(objs).__name__}."
        )
    out: dict[str, T] = {}
    for name, obj in pairs:
        if not isinstance(name, str) or not name.strip():
            raise RMXError(f"{what} names must be non-empty strings, got {name!r}.")
        if name in out:
            raise RMXError(
                f"two {what}s are both named {name!r}; pass a dict "
                f"{{name: {what}}} to tell them apart."
            )
        out[name] = obj
    if not out:
        raise RMXError(f"the study needs at least one {what}.")
    return out


def datasets(comparisons: Any) -> dict[str, list[Comparison]]:
    """``{name: comparisons}`` from one data source or a mapping of named ones."""
    if isinstance(comparisons, Mapping) and not _looks_like_mapping_data(comparisons):
        out = {str(k): load_comparisons(v) for k, v in comparisons.items()}
    else:
        name = Path(comparisons).stem if isinstance(comparisons, (str, Path)) else "data"
        out = {name: load_comparisons(comparisons)}
    if not out:
        raise DataError("the study needs at least one data set.")
    for name, comps in out.items():
        if not comps:
            raise DataError(f"data set {name!r} holds no comparisons.")
        ids = [c.id for c in comps]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DataError(
                f"data set {name!r} has the comparison id {dup!r} twice; ids must "
                "be unique so that seeds and RMs refer to the same comparison."
            )
    return out


def _looks_like_mapping_data(obj: Mapping) -> bool:
    """A dict of columns (``{"prompt": [...], ...}``) is data, not a mapping of data sets."""
    return any(k in obj for k in ("prompt", "chosen", "rejected", "response_a", "messages"))


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``seeds`` as distinct integers: a count n means seeds 0 … n−1."""
    if isinstance(seeds, (int, np.integer)):
        if isinstance(seeds, bool) or seeds < 1:
            raise RMXError(f"seeds must be at least 1 (how many samples), got {seeds}.")
        return list(range(int(seeds)))
    out = list(seeds)
    if not out or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in out
    ):
        raise RMXError(f"seeds must be a positive count or a list of integers, got {seeds!r}.")
    if len(set(out)) != len(out):
        raise RMXError(f"seeds must be distinct, got {out}.")
    return [int(s) for s in out]


def check_per_seed(per_seed: Any) -> int:
    """``per_seed`` as a positive int, else one clear error."""
    if not isinstance(per_seed, (int, np.integer)) or isinstance(per_seed, bool) or per_seed < 1:
        raise RMXError(f"per_seed must be a positive integer, got {per_seed!r}.")
    return int(per_seed)


SAMPLING_MODES = ("disjoint", "overlapping", "single sample")


def sampling_mode(n_ids: int, n_seeds: int, per_seed: int) -> str:
    """How the seeds' samples relate: ``"disjoint"`` when the data holds seeds × per_seed
    comparisons (no comparison in two seeds), ``"single sample"`` when every seed is the same
    sample (one seed, or no more comparisons than ``per_seed``), else ``"overlapping"``."""
    if n_seeds == 1 or n_ids <= per_seed:
        return "single sample"
    return "disjoint" if n_ids >= n_seeds * per_seed else "overlapping"


def sample_ids(ids: Sequence[str], seeds: Sequence[int], per_seed: int) -> dict[int, list[str]]:
    """Per seed, ``per_seed`` comparison ids, drawn disjointly while the data allows.

    The seeds draw in order; each takes the ``per_seed`` ids used least often by the seeds
    before it, ties broken by its own generator (``np.random.default_rng(seed)``). So with at
    least seeds × per_seed ids no id is in two seeds (the paper's 5 × 30 = 150 distinct
    comparisons), with fewer the seeds overlap as little as possible, and with no more than
    ``per_seed`` every seed takes them all (:func:`sampling_mode` names the case). Seeded and
    deterministic: the same ids, seeds and ``per_seed`` give the same samples, so a resumed
    study explains the same union of comparisons from its store. Ids keep the data's order.
    """
    n = min(check_per_seed(per_seed), len(ids))
    used = np.zeros(len(ids), dtype=np.int64)
    out = {}
    for seed in seeds:
        tiebreak = np.random.default_rng(seed).random(len(ids))
        pick = np.lexsort((tiebreak, used))[:n]  # least used first, then the seed's order
        used[pick] += 1
        out[seed] = [ids[i] for i in sorted(pick)]
    return out


def default_attributes(perturbers: Mapping[str, Perturber]) -> list[Attribute]:
    """The default attributes every attribute-aware perturber supports, so that baselines and
    attribute perturbers get the same number of rewrites per comparison and a rule perturber
    is not charged for attributes it has no rule for."""
    aware = [p for p in perturbers.values() if p.attribute_aware]
    names = [a.name for a in DEFAULT_ATTRIBUTES if all(p.supports(a) for p in aware)]
    if not names:
        raise RMXError("the perturbers support no attribute in common; pass attributes=...")
    return resolve_attributes(names)

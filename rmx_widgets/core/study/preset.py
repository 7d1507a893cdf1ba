"""Named study presets: ``evaluate(rms=..., preset="paper", llm=...)`` runs the paper's setup.

The paper ("Interpreting Language Reward Models via Contrastive Explanations") evaluates its
method on three public data sets, with 5 seeds × 30 disjoint comparisons each, against three
attribute-blind baselines. Writing that down by hand is long and easy to get subtly wrong (a
wrong split, overlapping seeds, a baseline on another LLM), so the preset fixes it in one place
and records what it chose in ``StudyResult.config["preset"]`` (and so in ``study.json``):

- **data**: ``hh-rlhf-helpful`` (Anthropic/hh-rlhf ``helpful-base``, split ``test``),
  ``hh-rlhf-harmless`` (``harmless-base``, split ``test``) and ``helpsteer2``
  (nvidia/HelpSteer2, split ``validation``). These are the held-out splits: a public RM is
  usually trained on the ``train`` splits, and explaining preferences it was fitted to would
  say little (HelpSteer2 has no ``test`` split). They are read through the public loaders
  (:mod:`rmx_widgets.core.public_data`): the hub when online; offline ``data_files={name:
  source}``, a source being a ``.jsonl(.gz)`` file, a list of them, or a folder in the hub's
  layout (a copy of the HH-RLHF repository holding ``helpful-base/test.jsonl.gz``, or of
  HelpSteer2 holding ``validation.jsonl.gz``). A data set not named there comes from the hub.
- **sampling**: 5 seeds × 30 comparisons, disjoint (150 distinct per data set).
- **methods**: ``llm`` (the given attribute-aware LLM perturber), ``random``
  (:class:`RandomWordPerturber`), ``paraphrase`` (:class:`ParaphrasePerturber` on the *same*
  LLM, so the baseline differs from the method only in the prompt) and ``polyjuice``
  (:class:`PolyjuicePerturber`, skipped with its reason where it cannot load, e.g. offline).

Explicit arguments override the preset only where the result stays meaningful, and each
override is recorded (``config["preset"]["overrides"]``): ``seeds`` / ``per_seed`` (say, a
cheap first run), ``attributes``, ``perturbers`` (your own methods instead of the four; then
no ``llm``) and ``comparisons`` (your own data sets instead of the three; then no
``data_files``). A contradiction — both ``llm`` and ``perturbers``, both ``data_files`` and
``comparisons``, no LLM for the methods — is one :class:`OptionError` before anything loads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.perturbers.base import Perturber, as_perturber
from rmx_widgets.core.public_data import LoadedComparisons, load_helpsteer2, load_hh_rlhf

#: The presets ``evaluate(preset=...)`` and ``rmx evaluate --preset`` know.
PRESETS = ("paper",)
#: The paper's sampling: seeds × comparisons per seed, disjoint.
PAPER_SEEDS = 5
PAPER_PER_SEED = 30


@dataclass(frozen=True)
class PresetDataset:
    """One of the paper's data sets: which public loader reads it, which folder and split."""

    name: str
    loader: Literal["hh-rlhf", "helpsteer2"]
    subset: str | None  # the HH-RLHF folder
    split: str

    def load(self, source: Any = None, *, limit: int | None = None) -> LoadedComparisons:
        """The comparisons, from the hub (``source=None``) or a local ``source``: a file or
        folder (the loader's ``path=``) or a list of files (its ``data_files=``)."""
        where: dict[str, Any] = {}
        if isinstance(source, (str, Path)):
            where["path"] = source
        elif source is not None:
            where["data_files"] = source
        if self.loader == "hh-rlhf":
            return load_hh_rlhf(self.subset or "helpful-base", self.split, limit=limit, **where)
        return load_helpsteer2(self.split, limit=limit, **where)


PAPER_DATASETS: dict[str, PresetDataset] = {
    d.name: d
    for d in (
        PresetDataset("hh-rlhf-helpful", "hh-rlhf", "helpful-base", "test"),
        PresetDataset("hh-rlhf-harmless", "hh-rlhf", "harmless-base", "test"),
        PresetDataset("helpsteer2", "helpsteer2", None, "validation"),
    )
}


class PresetData(dict[str, LoadedComparisons]):
    """The data sets of a preset, loaded (:func:`paper_data`): ``{name: LoadedComparisons}``.

    ``evaluate(data, rms, preset="paper", ...)`` takes it as the preset's own data (not as an
    override), so a caller may load and check the data first (the CLI does, before any model
    loads) or cut it with ``limit``."""

    def __init__(self, preset: str, loaded: Mapping[str, LoadedComparisons], limit: int | None):
        super().__init__(loaded)
        self.preset = preset
        self.limit = limit


def check_preset(name: Any) -> str:
    """``name`` if it is a known preset, else one :class:`OptionError` listing them."""
    if name not in PRESETS:
        raise OptionError(f"unknown preset {name!r}; the presets are: {', '.join(PRESETS)}.")
    return str(name)


def check_data_names(data_files: Any) -> dict[str, Any]:
    """``data_files`` as ``{name: source}`` with every name one of the paper's data sets."""
    if data_files is None:
        return {}
    if not isinstance(data_files, Mapping):
        raise OptionError(
            "data_files= maps the paper's data set names to local files or folders, e.g. "
            f"{{'hh-rlhf-helpful': 'hh-rlhf/'}}; got {type(data_files).__name__}."
        )
    unknown = [n for n in data_files if n not in PAPER_DATASETS]
    if unknown:
        raise OptionError(
            f"data_files names {', '.join(map(repr, unknown))}, not a data set of the paper "
            f"preset; use {', '.join(PAPER_DATASETS)}."
        )
    return dict(data_files)


def paper_data(
    data_files: Mapping[str, Any] | None = None, *, limit: int | None = None
) -> PresetData:
    """The paper's three data sets, loaded through the public loaders (see the module
    docstring): ``data_files={name: source}`` reads the named ones from local files or folders
    in the public formats, the others come from the hub. ``limit`` keeps the first N
    comparisons of each (fewer than 150 and the study warns that the seeds overlap)."""
    sources = check_data_names(data_files)
    loaded = {
        name: spec.load(sources.get(name), limit=limit) for name, spec in PAPER_DATASETS.items()
    }
    return PresetData("paper", loaded, limit)


def paper_perturbers(llm: Any) -> dict[str, Perturber]:
    """The paper's methods on one LLM: ``llm`` (attribute-aware), ``random``, ``paraphrase``
    (the same LLM, attribute-free prompt) and ``polyjuice``."""
    from rmx_widgets.core.perturbers.paraphrase import ParaphrasePerturber
    from rmx_widgets.core.perturbers.polyjuice import PolyjuicePerturber
    from rmx_widgets.core.perturbers.random_words import RandomWordPerturber

    if llm is None:
        raise OptionError(
            "preset='paper' needs llm=: the attribute-aware LLM perturber (e.g. "
            "rmx.OpenAIPerturber('gpt-4o')), which also writes the paraphrase baseline; or "
            "pass perturbers= to run your own methods instead."
        )
    if not as_perturber(llm).attribute_aware:
        raise OptionError(
            f"llm= is the attribute-aware method, but {type(llm).__name__} is attribute-blind; "
            "pass an OpenAIPerturber, HFPerturber or VLLMPerturber."
        )
    # ParaphrasePerturber refuses, in one line, an llm that is not an LLM backend
    return {
        "llm": llm,
        "random": RandomWordPerturber(),
        "paraphrase": ParaphrasePerturber(llm),
        "polyjuice": PolyjuicePerturber(),
    }


@dataclass
class Resolved:
    """What a preset turns ``evaluate``'s arguments into, and the record of it."""

    comparisons: Any
    perturbers: Any
    seeds: int | Sequence[int]
    per_seed: int
    record: dict[str, Any]


def resolve(
    name: Any,
    *,
    comparisons: Any,
    perturbers: Any,
    llm: Any,
    data_files: Any,
    seeds: int | Sequence[int] | None,
    per_seed: int | None,
    attributes: Any,
) -> Resolved:
    """Apply the preset ``name`` to ``evaluate``'s arguments: every contradiction is an
    :class:`OptionError` before any data or model loads, then the methods are built and the
    data sets loaded."""
    name = check_preset(name)
    own_data = isinstance(comparisons, PresetData) and comparisons.preset == name
    if comparisons is not None and data_files is not None:
        raise OptionError(
            "give data_files= (local copies of the paper's data sets) or comparisons= (your "
            "own data sets instead), not both."
        )
    if perturbers is not None and llm is not None:
        raise OptionError(
            "give llm= (the preset builds the paper's methods on it) or perturbers= (your own "
            "methods instead), not both."
        )
    sources = check_data_names(data_files)
    from rmx_widgets.core.study import inputs  # numpy: not at import (the CLI starts without)

    overrides: dict[str, Any] = {}
    if seeds is not None:  # checked now, not after the data sets have loaded
        checked = inputs.seed_list(seeds)
        overrides["seeds"] = checked if isinstance(seeds, Sequence) else len(checked)
    if per_seed is not None:
        overrides["per_seed"] = inputs.check_per_seed(per_seed)
    if attributes is not None:
        overrides["attributes"] = "given"
    if perturbers is not None:
        overrides["perturbers"] = "given"
    if comparisons is not None and not own_data:
        overrides["comparisons"] = "given"
    methods = perturbers if perturbers is not None else paper_perturbers(llm)
    data = comparisons if comparisons is not None else paper_data(sources)
    record: dict[str, Any] = {
        "name": name,
        "datasets": _data_record(data) if comparisons is None or own_data else "given",
        "seeds": PAPER_SEEDS,
        "per_seed": PAPER_PER_SEED,
        "methods": (
            {
                "llm": "attribute-aware",
                "random": "baseline",
                "paraphrase": "baseline (same LLM)",
                "polyjuice": "baseline",
            }
            if perturbers is None
            else "given"
        ),
        "overrides": overrides,
    }
    return Resolved(
        comparisons=data,
        perturbers=methods,
        seeds=seeds if seeds is not None else PAPER_SEEDS,
        per_seed=per_seed if per_seed is not None else PAPER_PER_SEED,
        record=record,
    )


def _data_record(data: PresetData) -> dict[str, Any]:
    """Per data set: the loader, folder and split, where it was read and what was skipped."""
    out: dict[str, Any] = {}
    for name, comps in data.items():
        spec = PAPER_DATASETS[name]
        out[name] = {
            "loader": "load_hh_rlhf" if spec.loader == "hh-rlhf" else "load_helpsteer2",
            "subset": spec.subset,
            "split": spec.split,
            "source": comps.source,
            "rows_read": comps.rows_read,
            "comparisons": len(comps),
            "skipped": dict(comps.skipped),
            "limit": data.limit,
        }
    return out

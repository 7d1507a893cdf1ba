"""The paper's evaluation as one call: explanation quality against baselines, and RM vs RM.

"Interpreting Language Reward Models via Contrastive Explanations" validates its method in two
steps, and :func:`evaluate` runs both on a user's own data, RMs and perturbers:

1. **Quality of the explanations** (:mod:`.quality`). For each (RM, perturber): how often
   counterfactuals (CF) and semifactuals (SF) are found on the chosen side, the rejected side,
   either, and both (each side has one), how close they are to the original (syntactic and
   semantic distance) and how diverse; the mean ± standard error over comparisons, repeated
   over several seeds of sampled comparisons (5 × 30 by default, as in the paper: disjoint
   samples, 150 distinct comparisons). With fewer comparisons than seeds × per_seed the seeds
   overlap (or are one sample), the study warns, and the summary's ± is over the distinct
   comparisons instead of over the seeds (``sampling`` and ``se_over`` say which).
   Attribute-blind baselines (random word edits, a paraphrase, Polyjuice) get exactly the same
   rewrite budget as the attribute perturbers — one request per comparison × attribute ×
   direction — so the comparison is fair.
2. **RM vs RM** (:mod:`.rm_vs_rm`). Global sensitivity (PFR with bootstrap CIs) per RM,
   restricted to the comparisons on which *all* RMs agree on the original preference (elsewhere
   the rewrites explain different preferences and are not comparable), Kendall's τ between the
   RMs' attribute rankings, representative examples per RM and contrasting examples per pair.

Each (RM, perturber) is explained once, on the union of the sampled comparisons, through the
ordinary :class:`~rmx_widgets.core.explain.Explainer` and one shared store: the seeds only pick
subsets of rows, and rewrites are cached across RMs (an RM that prefers the same response asks
for the same rewrite). A killed study resumes from the store with nothing recomputed.

With a rewrite ``judge`` (``core.validity``) every attribute-aware perturber's rewrites get a
verdict, cached in the same store, and the valid-rewrite rate stands beside every failed rate
(quality, the paper's Table 1, sensitivity); the attribute-blind baselines are not judged
(:mod:`.validity` says why). ``valid_only=True`` computes coverage, distances and diversity of
the judged perturbers on their valid rewrites only (a CF judged invalid is not found), and the
RM-vs-RM half (sensitivity, τ, examples) on valid rewrites only.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import Attribute, resolve_attributes
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import OptionError, PerturberError, RMXError
from rmx_widgets.core.explain import Explainer
from rmx_widgets.core.perturbers.base import Perturber, as_perturber
from rmx_widgets.core.result import ExplanationResult
from rmx_widgets.core.reward_models.base import RewardModel, as_reward_model
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS
from rmx_widgets.core.store import Store
from rmx_widgets.core.study import inputs, validity
from rmx_widgets.core.study import preset as preset_module
from rmx_widgets.core.study.quality import pooled_quality, quality_by_seed, summarise
from rmx_widgets.core.study.report import write_study_report
from rmx_widgets.core.study.result import (
    CONTRAST_COLUMNS,
    EXAMPLE_COLUMNS,
    POOLED_COLUMNS,
    QUALITY_COLUMNS,
    TAU_COLUMNS,
    StudyResult,
)
from rmx_widgets.core.study.rm_vs_rm import rm_vs_rm
from rmx_widgets.core.validity.base import RewriteJudge, as_judge


def evaluate(
    comparisons: Any = None,
    rms: Any = None,
    perturbers: Any = None,
    *,
    preset: str | None = None,
    llm: Any = None,
    data_files: Mapping[str, Any] | None = None,
    attributes: Any = None,
    seeds: int | Sequence[int] | None = None,
    per_seed: int | None = None,
    store: str | Path | Store | None = None,
    primary: str | None = None,
    k: int = 5,
    n_boot: int = 1000,
    embedder: metrics.Embedder | None = None,
    batch_size: int = 32,
    progress: bool = True,
    judge: Any = None,
    valid_only: bool = False,
) -> StudyResult:
    """Run the paper's study (see the module docstring) and return a :class:`StudyResult`.

    ``comparisons``: anything ``load_comparisons`` takes, or ``{name: data}`` for several data
    sets. ``rms`` / ``perturbers``: lists (named by identity) or ``{name: object}``; callables
    work as everywhere. A perturber that cannot run here (e.g. Polyjuice offline) is skipped
    with its reason in ``skipped``, and the study goes on. ``primary`` names the perturber whose
    explanations drive the RM-vs-RM part (default: the first attribute-aware one). ``store``
    makes the study resumable; without it everything is cached in memory for this call.
    ``seeds`` × ``per_seed`` default to the paper's 5 × 30.

    ``preset="paper"`` runs the paper's setup (:mod:`.preset`): its three data sets
    (``hh-rlhf-helpful``, ``hh-rlhf-harmless``: the HH-RLHF ``test`` splits; ``helpsteer2``: the
    HelpSteer2 ``validation`` split) through the public loaders, from the hub or from
    ``data_files={name: file, files or folder in the public format}``; 5 × 30 disjoint
    comparisons; and the methods ``llm`` (the attribute-aware ``llm=`` perturber), ``random``,
    ``paraphrase`` (on the same LLM) and ``polyjuice``. ``rms`` is still yours. ``seeds``,
    ``per_seed``, ``attributes``, ``perturbers`` (instead of ``llm``) and ``comparisons``
    (instead of ``data_files``) override it, and ``config["preset"]`` records the choice.

    ``judge`` (default ``None``: none) is a rewrite judge (``core.validity``: a
    ``RewriteJudge`` or a callable) given to every attribute-aware perturber's Explainer: its
    verdicts fill the tables' ``valid`` / ``validity_reason`` (cached in the study's store)
    and the ``n_judged``, ``n_valid``, ``valid_rate`` columns of the quality frames, Table 1
    and the sensitivity. Baselines are not judged (``valid`` <NA>, "not judged: baseline").
    ``valid_only`` (needs ``judge``) counts only valid rewrites as explanations: coverage,
    distances and diversity of the judged perturbers, and the RM-vs-RM sensitivity, τ and
    examples. ``config["judge"]`` / ``config["valid_only"]`` record both.
    """
    if valid_only and judge is None:
        raise OptionError(
            "valid_only=True needs a rewrite judge: evaluate(..., judge=FeatureJudge() or "
            "LLMAttributeJudge(llm) or a function)."
        )
    checked_judge = as_judge(judge) if judge is not None else None  # before anything runs
    comparisons, perturbers, seeds, per_seed, preset_record = _apply_preset(
        preset,
        comparisons=comparisons,
        rms=rms,
        perturbers=perturbers,
        llm=llm,
        data_files=data_files,
        seeds=seeds,
        per_seed=per_seed,
        attributes=attributes,
    )
    plan = _plan(
        comparisons,
        rms,
        perturbers,
        attributes=attributes,
        seeds=seeds,
        per_seed=per_seed,
        store=store,
        primary=primary,
        k=k,
        n_boot=n_boot,
        embedder=embedder,
        batch_size=batch_size,
        progress=progress,
    )
    plan.preset = preset_record
    plan.judge, plan.valid_only = checked_judge, bool(valid_only)
    found = _Found()
    bar = _progress(len(plan.datasets) * len(plan.rms) * len(plan.perturbers), progress)
    for ds_name, comps in plan.datasets.items():
        found.samples[ds_name] = inputs.sample_ids([c.id for c in comps], plan.seeds, per_seed)
        mode = inputs.sampling_mode(len(comps), len(plan.seeds), per_seed)
        found.sampling[ds_name] = mode
        if mode != "disjoint" and len(plan.seeds) > 1:
            what = (
                "every seed uses all of them"
                if mode == "single sample"
                else "the seeds' samples overlap"
            )
            warnings.warn(
                f"data set {ds_name!r} has {len(comps)} comparisons, fewer than "
                f"{len(plan.seeds)} seeds × per_seed={per_seed}: {what}, so the quality "
                "summary reports the standard error over the distinct sampled comparisons, "
                "not over seeds (se_over='comparisons').",
                stacklevel=2,
            )
        _study_dataset(plan, found, ds_name, comps, bar)
    bar.close()
    return _result(plan, found)


def _apply_preset(
    preset: str | None,
    *,
    comparisons: Any,
    rms: Any,
    perturbers: Any,
    llm: Any,
    data_files: Mapping[str, Any] | None,
    seeds: int | Sequence[int] | None,
    per_seed: int | None,
    attributes: Any,
) -> tuple[Any, Any, int | Sequence[int], int, dict[str, Any] | None]:
    """(comparisons, perturbers, seeds, per_seed, the preset's record): the preset applied,
    or, without one, the arguments checked and the paper's 5 × 30 as the default sampling."""
    if rms is None:
        raise OptionError("the study needs reward models: rms=[rm, ...] or {name: rm}.")
    if preset is not None:
        chosen = preset_module.resolve(
            preset,
            comparisons=comparisons,
            perturbers=perturbers,
            llm=llm,
            data_files=data_files,
            seeds=seeds,
            per_seed=per_seed,
            attributes=attributes,
        )
        return chosen.comparisons, chosen.perturbers, chosen.seeds, chosen.per_seed, chosen.record
    if llm is not None or data_files is not None:
        raise OptionError(
            "llm= and data_files= are options of preset='paper'; without a preset pass "
            "comparisons= and perturbers= yourself."
        )
    if comparisons is None or perturbers is None:
        raise OptionError(
            "the study needs comparisons= and perturbers=, or preset='paper' for the paper's "
            "data sets and methods (presets: " + ", ".join(preset_module.PRESETS) + ")."
        )
    return (
        comparisons,
        perturbers,
        preset_module.PAPER_SEEDS if seeds is None else seeds,
        preset_module.PAPER_PER_SEED if per_seed is None else per_seed,
        None,
    )


@dataclass
class _Plan:
    """The study's inputs, resolved once: named RMs and perturbers, the attributes, the one
    store and embedder every run shares, and which perturbers are skipped, attribute-aware and
    primary. ``skipped`` grows while the study runs (a perturber that fails is skipped from
    then on)."""

    datasets: dict[str, list[Comparison]]
    rms: dict[str, RewardModel]
    perturbers: dict[str, Perturber]
    seeds: list[int]
    per_seed: int
    attributes: list[Attribute]
    store: Store
    embedder: metrics.CachedEmbedder
    skipped: dict[str, str]
    aware: set[str]
    primary: str | None
    k: int
    n_boot: int
    batch_size: int
    progress: bool
    #: what ``preset=`` chose (``preset.resolve``'s record), None without a preset
    preset: dict[str, Any] | None = None
    #: the rewrite judge of the attribute-aware perturbers (None: none), and valid-only
    judge: RewriteJudge | None = None
    valid_only: bool = False

    def judged(self, perturber: str) -> bool:
        """Whether ``perturber``'s rewrites are judged: a judge, and an attribute-aware
        perturber (see :mod:`.validity` for the baselines)."""
        return self.judge is not None and self.perturbers[perturber].attribute_aware


@dataclass
class _Found:
    """What the runs produced so far, in run order (data set × RM × perturber)."""

    tables: dict[tuple[str, str, str], pd.DataFrame] = field(default_factory=dict)
    quality_rows: list[dict[str, Any]] = field(default_factory=list)
    per_comparison: list[pd.DataFrame] = field(default_factory=list)
    sensitivity: list[pd.DataFrame] = field(default_factory=list)
    tau: list[pd.DataFrame] = field(default_factory=list)
    representatives: list[pd.DataFrame] = field(default_factory=list)
    contrasting: list[pd.DataFrame] = field(default_factory=list)
    agreement: list[pd.DataFrame] = field(default_factory=list)
    samples: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    sampling: dict[str, str] = field(default_factory=dict)
    pooled_rows: list[dict[str, Any]] = field(default_factory=list)
    originals: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    comparisons: dict[str, list[Comparison]] = field(default_factory=dict)


def _plan(
    comparisons: Any,
    rms: Any,
    perturbers: Any,
    *,
    attributes: Any,
    seeds: int | Sequence[int],
    per_seed: int,
    store: str | Path | Store | None,
    primary: str | None,
    k: int,
    n_boot: int,
    embedder: metrics.Embedder | None,
    batch_size: int,
    progress: bool,
) -> _Plan:
    """Resolve ``evaluate``'s arguments; a mistake in any of them fails before anything runs."""
    datasets = inputs.datasets(comparisons)
    named_rms = inputs.named(rms, "reward model", as_reward_model)
    named_perturbers = inputs.named(perturbers, "perturber", as_perturber)
    seed_list = inputs.seed_list(seeds)
    attrs = (
        resolve_attributes(attributes)
        if attributes is not None
        else inputs.default_attributes(named_perturbers)
    )
    shared = store if isinstance(store, Store) else Store(store)
    # every text is embedded once for the whole study (distances, diversity, every RM)
    cached = metrics.CachedEmbedder(embedder if embedder is not None else metrics.HashingEmbedder())
    # a perturber that may not run everywhere (a hub model offline) says why; it is skipped
    # with that reason instead of failing later
    skipped = {
        name: reason for name, p in named_perturbers.items() if (reason := p.why_unavailable())
    }
    aware = {n for n, p in named_perturbers.items() if n not in skipped and p.attribute_aware}
    return _Plan(
        datasets=datasets,
        rms=named_rms,
        perturbers=named_perturbers,
        seeds=seed_list,
        per_seed=per_seed,
        attributes=attrs,
        store=shared,
        embedder=cached,
        skipped=skipped,
        aware=aware,
        primary=_primary(primary, named_perturbers, skipped, aware),
        k=k,
        n_boot=n_boot,
        batch_size=batch_size,
        progress=progress,
    )


def _primary(
    primary: str | None, perturbers: dict[str, Perturber], skipped: dict[str, str], aware: set[str]
) -> str | None:
    """The perturber that drives the RM-vs-RM part: the one asked for, else the first
    attribute-aware one that can run, else the first that can run at all."""
    if primary is None:
        candidates = [n for n in perturbers if n in aware] or [
            n for n in perturbers if n not in skipped
        ]
        return candidates[0] if candidates else None
    if primary not in perturbers:
        raise RMXError(f"primary={primary!r} is not one of the perturbers {list(perturbers)}.")
    return primary


def _study_dataset(
    plan: _Plan, found: _Found, ds_name: str, comps: list[Comparison], bar: Any
) -> None:
    """Explain the sampled comparisons of one data set with every (RM, perturber), then
    compare the RMs on them."""
    union = set().union(*found.samples[ds_name].values())
    chosen = [c for c in comps if c.id in union]
    for rm_name, rm in plan.rms.items():
        for p_name, pert in plan.perturbers.items():
            if p_name not in plan.skipped:
                explainer = _explainer(plan, rm, pert, plan.judged(p_name))
                bar.set_postfix_str(f"{ds_name}: {rm_name} × {p_name}")
                result = _explain(plan, explainer, p_name, chosen)
                if result is not None:
                    _record_run(plan, found, (ds_name, rm_name, p_name), result)
            bar.update(1)
    _record_rm_vs_rm(plan, found, ds_name, chosen)


def _explainer(plan: _Plan, rm: RewardModel, pert: Perturber, judged: bool) -> Explainer:
    """The ordinary Explainer for one (RM, perturber), on the study's shared store and
    embedder, with the study's judge when the perturber is ``judged``."""
    return Explainer(
        rm,
        pert,
        attributes=plan.attributes,
        store=plan.store,
        batch_size=plan.batch_size,
        embedder=plan.embedder,
        progress=plan.progress,
        judge=plan.judge if judged else None,
    )


def _explain(
    plan: _Plan, explainer: Explainer, p_name: str, chosen: list[Comparison]
) -> ExplanationResult | None:
    """Run one (RM, perturber); ``None`` (and the perturber skipped from then on, with the
    reason) when the perturber fails."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*are ties for.*")
            return explainer.explain(chosen)
    except PerturberError as e:
        plan.skipped[p_name] = str(e)
        return None


def _record_run(
    plan: _Plan, found: _Found, key: tuple[str, str, str], result: ExplanationResult
) -> None:
    """Keep one run's table and originals, and its explanation quality per seed (with
    ``valid_only``, a judged perturber's on its valid rewrites: :mod:`.validity`)."""
    ds_name, rm_name, p_name = key
    table = result.table.assign(dataset=ds_name, rm=rm_name, perturber=p_name)
    if plan.judge is not None and not plan.judged(p_name):
        table = validity.mark_baseline(table)
    found.tables[key] = table
    found.originals.setdefault((ds_name, rm_name), result.originals)
    explained = set(result.originals.loc[~result.originals["tie"], "comparison_id"])
    only = plan.valid_only and plan.judged(p_name)
    rows = validity.valid_only_outcomes(table) if only else table
    pc = metrics.comparison_quality(rows, plan.embedder, comparison_ids=sorted(explained))
    pc = validity.with_counts(pc, table)
    found.per_comparison.append(pc.assign(dataset=ds_name, rm=rm_name, perturber=p_name))
    names = {"dataset": ds_name, "rm": rm_name, "perturber": p_name}
    for rec in quality_by_seed(pc, found.samples[ds_name], explained, valid_only=only):
        found.quality_rows.append({**names, **rec})
    union = sorted(set().union(*found.samples[ds_name].values()))
    for rec in pooled_quality(pc, union, explained, valid_only=only):
        found.pooled_rows.append({**names, **rec})


def _record_rm_vs_rm(plan: _Plan, found: _Found, ds_name: str, chosen: list[Comparison]) -> None:
    """The RM-vs-RM frames of one data set (nothing when no run of it succeeded)."""
    tables = {(rm, p): t for (ds, rm, p), t in found.tables.items() if ds == ds_name}
    originals = {rm: o for (ds, rm), o in found.originals.items() if ds == ds_name}
    if not originals:
        return
    found.comparisons[ds_name] = chosen
    part = rm_vs_rm(
        tables,
        originals,
        [c.id for c in chosen],
        primary=plan.primary,
        aware=plan.aware,
        k=plan.k,
        n_boot=plan.n_boot,
        null=_null_baseline(plan),
        valid_only={p for p in plan.perturbers if plan.valid_only and plan.judged(p)},
    )
    for frames, frame in (
        (found.agreement, part.agreement),
        (found.sensitivity, part.sensitivity),
        (found.tau, part.tau),
        (found.representatives, part.representatives),
        (found.contrasting, part.contrasting),
    ):
        if frame is not None:
            frames.append(frame.assign(dataset=ds_name))


def _result(plan: _Plan, found: _Found) -> StudyResult:
    quality = pd.DataFrame.from_records(found.quality_rows, columns=QUALITY_COLUMNS)
    pooled = pd.DataFrame.from_records(found.pooled_rows, columns=POOLED_COLUMNS)
    return StudyResult(
        quality=quality,
        quality_summary=summarise(quality, pooled, found.sampling),
        per_comparison=_concat(
            found.per_comparison,
            ["dataset", "rm", "perturber", *metrics.QUALITY_COLUMNS, *validity.COUNT_COLUMNS],
        ),
        sensitivity=_concat(
            found.sensitivity, ["dataset", "rm", "perturber", *SENSITIVITY_COLUMNS, "n_agree"]
        ),
        tau=_concat(found.tau, TAU_COLUMNS),
        representatives=_concat(found.representatives, EXAMPLE_COLUMNS),
        contrasting=_concat(found.contrasting, CONTRAST_COLUMNS),
        agreement=_concat(found.agreement, None),
        tables=found.tables,
        skipped=plan.skipped,
        config={**_config(plan), "sampling": dict(found.sampling)},
        samples=found.samples,
        originals=found.originals,
        comparisons=found.comparisons,
        render_report=write_study_report,
    )


def _null_baseline(plan: _Plan) -> str | None:
    """The first attribute-blind perturber that ran: the null the RM-vs-RM sensitivity tests
    each attribute against (None without one)."""
    return next(
        (n for n, p in plan.perturbers.items() if not p.attribute_aware and n not in plan.skipped),
        None,
    )


def _config(plan: _Plan) -> dict[str, Any]:
    """What was asked for, as the study's ``config`` records it (names → identities ...)."""
    return {
        "datasets": {d: len(c) for d, c in plan.datasets.items()},
        "rms": {n: rm.identity for n, rm in plan.rms.items()},
        "perturbers": {n: p.identity for n, p in plan.perturbers.items()},
        "baselines": [n for n, p in plan.perturbers.items() if not p.attribute_aware],
        "primary": plan.primary,
        "null": _null_baseline(plan),
        "attributes": [a.name for a in plan.attributes],
        "seeds": plan.seeds,
        "per_seed": plan.per_seed,
        "k": plan.k,
        "n_boot": plan.n_boot,
        "embedder": repr(plan.embedder),
        "preset": plan.preset,
        # the rewrite judge's identity (None: no judge), which perturbers it judged, and
        # whether the figures count valid rewrites only
        "judge": plan.judge.identity if plan.judge is not None else None,
        "judged": [n for n in plan.perturbers if plan.judged(n)],
        "valid_only": plan.valid_only,
    }


def _concat(frames: list[pd.DataFrame], columns: list[str] | None) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns or [])
    out = pd.concat(frames, ignore_index=True)
    if columns is None:
        return out[["dataset", *[c for c in out.columns if c != "dataset"]]]
    return out[columns]


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc="study (data set × RM × perturber)", unit="run", disable=not enabled
    )

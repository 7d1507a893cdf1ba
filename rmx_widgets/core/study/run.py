"""The paper's evaluation as one call: explanation quality against baselines, and RM vs RM.

"Interpreting Language Reward Models via Contrastive Explanations" validates its method in two
steps, and :func:`evaluate` runs both on a user's own data, RMs and perturbers:

1. **Quality of the explanations** (:mod:`.quality`). For each (RM, perturber): how often
   counterfactuals (CF) and semifactuals (SF) are found on the chosen side, the rejected side,
   either, and both (each side has one), how close they are to the original (syntactic and
   semantic distance) and how diverse; the mean ± standard error over comparisons, repeated
   over several seeds of sampled comparisons (5 × 30 by default, as in the paper).
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
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import resolve_attributes
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import PerturberError, RMXError
from rmx_widgets.core.explain import Explainer
from rmx_widgets.core.perturbers.base import as_perturber
from rmx_widgets.core.reward_models.base import as_reward_model
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS
from rmx_widgets.core.store import Store
from rmx_widgets.core.study import inputs
from rmx_widgets.core.study.quality import quality_by_seed, summarise
from rmx_widgets.core.study.report import write_study_report
from rmx_widgets.core.study.result import (
    CONTRAST_COLUMNS,
    EXAMPLE_COLUMNS,
    QUALITY_COLUMNS,
    TAU_COLUMNS,
    StudyResult,
)
from rmx_widgets.core.study.rm_vs_rm import rm_vs_rm


def evaluate(
    comparisons: Any,
    rms: Any,
    perturbers: Any,
    *,
    attributes: Any = None,
    seeds: int | Sequence[int] = 5,
    per_seed: int = 30,
    store: str | Path | Store | None = None,
    primary: str | None = None,
    k: int = 5,
    n_boot: int = 1000,
    embedder: metrics.Embedder | None = None,
    batch_size: int = 32,
    progress: bool = True,
) -> StudyResult:
    """Run the paper's study (see the module docstring) and return a :class:`StudyResult`.

    ``comparisons``: anything ``load_comparisons`` takes, or ``{name: data}`` for several data
    sets. ``rms`` / ``perturbers``: lists (named by identity) or ``{name: object}``; callables
    work as everywhere. A perturber that cannot run here (e.g. Polyjuice offline) is skipped
    with its reason in ``skipped``, and the study goes on. ``primary`` names the perturber whose
    explanations drive the RM-vs-RM part (default: the first attribute-aware one). ``store``
    makes the study resumable; without it everything is cached in memory for this call.
    """
    datasets = inputs.datasets(comparisons)
    rms = inputs.named(rms, "reward model", as_reward_model)
    perturbers = inputs.named(perturbers, "perturber", as_perturber)
    seed_list = inputs.seed_list(seeds)
    attrs = (
        resolve_attributes(attributes)
        if attributes is not None
        else inputs.default_attributes(perturbers)
    )
    shared = store if isinstance(store, Store) else Store(store)
    # every text is embedded once for the whole study (distances, diversity, every RM)
    embedder = metrics.CachedEmbedder(
        embedder if embedder is not None else metrics.HashingEmbedder()
    )

    # a perturber that may not run everywhere (a hub model offline) says why; it is skipped
    # with that reason instead of failing later
    skipped = {name: reason for name, p in perturbers.items() if (reason := p.why_unavailable())}
    aware = {n for n, p in perturbers.items() if n not in skipped and p.attribute_aware}
    if primary is None:
        candidates = [n for n in perturbers if n in aware] or [
            n for n in perturbers if n not in skipped
        ]
        primary = candidates[0] if candidates else None
    elif primary not in perturbers:
        raise RMXError(f"primary={primary!r} is not one of the perturbers {list(perturbers)}.")

    tables: dict[tuple[str, str, str], pd.DataFrame] = {}
    quality_rows: list[dict[str, Any]] = []
    per_comparison: list[pd.DataFrame] = []
    sens_frames: list[pd.DataFrame] = []
    tau_frames: list[pd.DataFrame] = []
    rep_frames: list[pd.DataFrame] = []
    con_frames: list[pd.DataFrame] = []
    agree_frames: list[pd.DataFrame] = []
    samples: dict[str, dict[int, list[str]]] = {}
    all_originals: dict[tuple[str, str], pd.DataFrame] = {}
    study_comparisons: dict[str, list[Comparison]] = {}

    bar = _progress(len(datasets) * len(rms) * len(perturbers), progress)
    for ds_name, comps in datasets.items():
        samples[ds_name] = inputs.sample_ids([c.id for c in comps], seed_list, per_seed)
        if per_seed > len(comps) and len(seed_list) > 1:
            warnings.warn(
                f"data set {ds_name!r} has {len(comps)} comparisons, fewer than "
                f"per_seed={per_seed}: every seed uses all of them.",
                stacklevel=2,
            )
        union = set().union(*samples[ds_name].values())
        chosen = [c for c in comps if c.id in union]
        originals: dict[str, pd.DataFrame] = {}
        ds_tables: dict[tuple[str, str], pd.DataFrame] = {}
        for rm_name, rm in rms.items():
            for p_name, pert in perturbers.items():
                if p_name in skipped:
                    bar.update(1)
                    continue
                explainer = Explainer(
                    rm,
                    pert,
                    attributes=attrs,
                    store=shared,
                    batch_size=batch_size,
                    embedder=embedder,
                    progress=progress,
                )
                bar.set_postfix_str(f"{ds_name}: {rm_name} × {p_name}")
                try:
                    with warnings.catch_warnings():
                        warnings.filterwarnings("ignore", message=".*are ties for.*")
                        result = explainer.explain(chosen)
                except PerturberError as e:
                    skipped[p_name] = str(e)
                    bar.update(1)
                    continue
                table = result.table.assign(dataset=ds_name, rm=rm_name, perturber=p_name)
                tables[(ds_name, rm_name, p_name)] = ds_tables[(rm_name, p_name)] = table
                originals.setdefault(rm_name, result.originals)
                explained = set(result.originals.loc[~result.originals["tie"], "comparison_id"])
                pc = metrics.comparison_quality(table, embedder, comparison_ids=sorted(explained))
                per_comparison.append(pc.assign(dataset=ds_name, rm=rm_name, perturber=p_name))
                for rec in quality_by_seed(pc, samples[ds_name], explained):
                    quality_rows.append(
                        {"dataset": ds_name, "rm": rm_name, "perturber": p_name, **rec}
                    )
                bar.update(1)
        if not originals:
            continue
        for rm_name, orig in originals.items():
            all_originals[(ds_name, rm_name)] = orig
        study_comparisons[ds_name] = chosen
        part = rm_vs_rm(
            ds_tables,
            originals,
            [c.id for c in chosen],
            primary=primary,
            aware=aware,
            k=k,
            n_boot=n_boot,
        )
        for frames, frame in (
            (agree_frames, part.agreement),
            (sens_frames, part.sensitivity),
            (tau_frames, part.tau),
            (rep_frames, part.representatives),
            (con_frames, part.contrasting),
        ):
            if frame is not None:
                frames.append(frame.assign(dataset=ds_name))
    bar.close()

    quality = pd.DataFrame.from_records(quality_rows, columns=QUALITY_COLUMNS)
    config = {
        "datasets": {d: len(c) for d, c in datasets.items()},
        "rms": {n: rm.identity for n, rm in rms.items()},
        "perturbers": {n: p.identity for n, p in perturbers.items()},
        "baselines": [n for n, p in perturbers.items() if not p.attribute_aware],
        "primary": primary,
        "attributes": [a.name for a in attrs],
        "seeds": seed_list,
        "per_seed": per_seed,
        "k": k,
        "n_boot": n_boot,
        "embedder": repr(embedder),
    }
    return StudyResult(
        quality=quality,
        quality_summary=summarise(quality),
        per_comparison=_concat(
            per_comparison, ["dataset", "rm", "perturber", *metrics.QUALITY_COLUMNS]
        ),
        sensitivity=_concat(
            sens_frames, ["dataset", "rm", "perturber", *SENSITIVITY_COLUMNS, "n_agree"]
        ),
        tau=_concat(tau_frames, TAU_COLUMNS),
        representatives=_concat(rep_frames, EXAMPLE_COLUMNS),
        contrasting=_concat(con_frames, CONTRAST_COLUMNS),
        agreement=_concat(agree_frames, None),
        tables=tables,
        skipped=skipped,
        config=config,
        samples=samples,
        originals=all_originals,
        comparisons=study_comparisons,
        render_report=write_study_report,
    )


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

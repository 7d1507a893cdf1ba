"""The paper's evaluation as one call: explanation quality against baselines, and RM vs RM.

"Interpreting Language Reward Models via Contrastive Explanations" validates its method in two
steps, and :func:`evaluate` runs both on a user's own data, RMs and perturbers:

1. **Quality of the explanations.** For each (RM, perturber): how often counterfactuals (CF)
   and semifactuals (SF) are found on the chosen side, the rejected side, either, and both
   (each side has one), how close they are to the original (syntactic and semantic distance)
   and how diverse; the mean ± standard error over comparisons, repeated over several seeds of
   sampled comparisons (5 × 30 by default, as in the paper). Attribute-blind baselines (random
   word edits, a paraphrase, Polyjuice) get exactly the same rewrite budget as the attribute
   perturbers — one request per comparison × attribute × direction — so the comparison is fair.
2. **RM vs RM.** Global sensitivity (PFR with bootstrap CIs) per RM, restricted to the
   comparisons on which *all* RMs agree on the original preference (elsewhere the rewrites
   explain different preferences and are not comparable), Kendall's τ between the RMs'
   attribute rankings, representative examples per RM and contrasting examples per pair.

Each (RM, perturber) is explained once, on the union of the sampled comparisons, through the
ordinary :class:`~rmx_widgets.core.explain.Explainer` and one shared store: the seeds only pick
subsets of rows, and rewrites are cached across RMs (an RM that prefers the same response asks
for the same rewrite). A killed study resumes from the store with nothing recomputed.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rmx_widgets.core import metrics
from rmx_widgets.core.attributes import DEFAULT_ATTRIBUTES, Attribute, resolve_attributes
from rmx_widgets.core.data import Comparison, load_comparisons
from rmx_widgets.core.errors import DataError, PerturberError, RMXError
from rmx_widgets.core.explain import Explainer
from rmx_widgets.core.representatives import contrasting_examples, representatives
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS, kendall_tau, ranking, sensitivity
from rmx_widgets.core.store import Store

QUALITY_METRICS = ("coverage", "syntactic", "semantic", "diversity")
QUALITY_COLUMNS = ["dataset", "rm", "perturber", "seed", "side", "kind", "n_comparisons", "n_ties",
                   *[c for m in QUALITY_METRICS for c in (m, f"{m}_se", f"{m}_n")]]
SUMMARY_COLUMNS = ["dataset", "rm", "perturber", "side", "kind", "n_seeds",
                   *[c for m in QUALITY_METRICS for c in (m, f"{m}_se")]]
EXAMPLE_COLUMNS = ["dataset", "rm", "rank", "comparison_id", "tau", "p", "n_attributes"]
CONTRAST_COLUMNS = ["dataset", "rm_a", "rm_b", "rank", "comparison_id", "tau", "p",
                    "n_attributes"]
TAU_COLUMNS = ["dataset", "rm_a", "rm_b", "tau", "p_value", "n_attributes", "n_agree"]


@dataclass
class StudyResult:
    """Everything the study produced, as tidy DataFrames (one concept per frame).

    - ``quality``: per dataset × RM × perturber × seed × side × kind (CF/SF): coverage,
      syntactic and semantic distance and diversity, each with its standard error over the
      seed's comparisons and the number of comparisons it averages (``*_n``); ``n_ties``
      counts the sampled comparisons the RM scores as ties, left out (nothing to explain).
    - ``quality_summary``: the same averaged over seeds; ``*_se`` is then the standard error of
      the per-seed values (seed-to-seed spread), as a paper table reports it.
    - ``per_comparison``: the unit behind ``quality`` (``metrics.comparison_quality`` rows with
      dataset, rm, perturber): recompute or re-slice any figure from it.
    - ``sensitivity``: PFR per dataset × RM × perturber × attribute × direction, on the
      comparisons all RMs agree on; ``tau``: Kendall's τ for every ordered pair of RMs (the
      matrix: :meth:`tau_matrix`); ``representatives`` per RM; ``contrasting`` per pair.
    - ``tables``: the explanation tables, keyed by (dataset, rm, perturber), with the study's
      names in the ``rm`` and ``perturber`` columns; ``skipped``: perturbers that could not
      run, with the reason; ``config``: what was asked for (names → identities, seeds, ...).
    """

    quality: pd.DataFrame
    quality_summary: pd.DataFrame
    per_comparison: pd.DataFrame
    sensitivity: pd.DataFrame
    tau: pd.DataFrame
    representatives: pd.DataFrame
    contrasting: pd.DataFrame
    agreement: pd.DataFrame
    tables: dict[tuple[str, str, str], pd.DataFrame]
    skipped: dict[str, str]
    config: dict[str, Any]
    samples: dict[str, dict[int, list[str]]] = field(default_factory=dict)
    #: the RM-ordered originals per (dataset, rm) and the comparisons per dataset, so that
    #: views can show any example beside its originals
    originals: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    comparisons: dict[str, list[Comparison]] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        return list(self.config["datasets"])

    @property
    def rms(self) -> list[str]:
        return list(self.config["rms"])

    @property
    def primary(self) -> str | None:
        return self.config.get("primary")

    def tau_matrix(self, dataset: str | None = None, *, values: str = "tau") -> pd.DataFrame:
        """Kendall's τ (or ``values="p_value"``) as an RM × RM matrix for one data set."""
        dataset = self._dataset(dataset)
        rows = self.tau[self.tau["dataset"] == dataset]
        matrix = rows.pivot(index="rm_a", columns="rm_b", values=values)
        return matrix.reindex(index=self.rms, columns=self.rms)

    def main_table(self, dataset: str | None = None, side: str = "both") -> pd.DataFrame:
        """The paper's main table for one data set and side: one row per (RM, perturber),
        CF and SF coverage, distances and diversity as "mean ± se" strings."""
        dataset = self._dataset(dataset)
        s = self.quality_summary
        s = s[(s["dataset"] == dataset) & (s["side"] == side)]
        rows = []
        for (rm, pert), group in s.groupby(["rm", "perturber"], sort=False):
            row: dict[str, Any] = {"rm": rm, "perturber": pert}
            for kind in ("CF", "SF"):
                k = group[group["kind"] == kind]
                for m in QUALITY_METRICS:
                    row[f"{kind} {m}"] = _pm(k[m].iloc[0], k[f"{m}_se"].iloc[0]) \
                        if len(k) else ""
            rows.append(row)
        return pd.DataFrame(rows)

    def save(self, out_dir: str | Path, *, report: bool = True) -> dict[str, Path]:
        """Write every frame (CSV, plus Parquet for the large ones), ``study.json`` and the
        HTML report; returns the paths by name."""
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RMXError(f"cannot create the output folder {out}: {e.strerror}.") from None
        paths: dict[str, Path] = {}
        for name in ("quality", "quality_summary", "sensitivity", "tau", "representatives",
                     "contrasting", "agreement"):
            paths[name] = out / f"{name}.csv"
            getattr(self, name).to_csv(paths[name], index=False)
        paths["per_comparison"] = out / "per_comparison.parquet"
        self.per_comparison.to_parquet(paths["per_comparison"], index=False)
        paths["tables"] = out / "tables.parquet"
        tables = [t for t in self.tables.values() if len(t)]
        (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()).to_parquet(
            paths["tables"], index=False)
        paths["study"] = out / "study.json"
        paths["study"].write_text(json.dumps({**self.config, "skipped": self.skipped,
                                              "samples": self.samples}, indent=2) + "\n")
        if report:
            from rmx_widgets.core.study_report import write_study_report

            paths["report"] = write_study_report(self, out / "report.html")
        return paths

    def _dataset(self, dataset: str | None) -> str:
        if dataset is None:
            return self.datasets[0]
        if dataset not in self.datasets:
            raise RMXError(f"unknown data set {dataset!r}; the study has {self.datasets}.")
        return dataset


def _pm(mean: float, se: float) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:.3f}" if se is None or math.isnan(se) else f"{mean:.3f} ± {se:.3f}"


def _named(objs: Any, what: str) -> dict[str, Any]:
    """A mapping name → object; a plain sequence is named by each object's identity."""
    if isinstance(objs, Mapping):
        named = dict(objs)
    elif isinstance(objs, Sequence) and not isinstance(objs, str):
        named = {}
        for obj in objs:
            name = str(getattr(obj, "identity", None) or getattr(obj, "__name__", None)
                       or repr(obj))
            if name in named:
                raise RMXError(f"two {what}s are both named {name!r}; pass a dict "
                               f"{{name: {what}}} to tell them apart.")
            named[name] = obj
    else:
        raise RMXError(f"give the {what}s as a list or a dict {{name: {what}}}, "
                       f"got {type(objs).__name__}.")
    if not named:
        raise RMXError(f"the study needs at least one {what}.")
    for name in named:
        if not isinstance(name, str) or not name.strip():
            raise RMXError(f"{what} names must be non-empty strings, got {name!r}.")
    return named


def _datasets(comparisons: Any) -> dict[str, list[Comparison]]:
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
            raise DataError(f"data set {name!r} has the comparison id {dup!r} twice; ids must "
                            "be unique so that seeds and RMs refer to the same comparison.")
    return out


def _looks_like_mapping_data(obj: Mapping) -> bool:
    """A dict of columns (``{"prompt": [...], ...}``) is data, not a mapping of data sets."""
    return any(k in obj for k in ("prompt", "chosen", "rejected", "response_a", "messages"))


def _seeds(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise RMXError(f"seeds must be at least 1 (how many samples), got {seeds}.")
        return list(range(int(seeds)))
    out = list(seeds)
    if not out or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                          for s in out):
        raise RMXError(f"seeds must be a positive count or a list of integers, got {seeds!r}.")
    if len(set(out)) != len(out):
        raise RMXError(f"seeds must be distinct, got {out}.")
    return [int(s) for s in out]


def sample_ids(ids: Sequence[str], seeds: Sequence[int], per_seed: int) -> dict[int, list[str]]:
    """Per seed, ``per_seed`` comparison ids drawn without replacement (all of them when the
    data set is smaller, with a warning, since the seeds then no longer differ)."""
    if not isinstance(per_seed, (int, np.integer)) or isinstance(per_seed, bool) or per_seed < 1:
        raise RMXError(f"per_seed must be a positive integer, got {per_seed!r}.")
    n = min(int(per_seed), len(ids))
    out = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        pick = sorted(rng.choice(len(ids), size=n, replace=False))
        out[seed] = [ids[i] for i in pick]
    return out


def default_attributes(perturbers: Mapping[str, Any]) -> list[Attribute]:
    """The attributes every attribute-aware perturber supports (all defaults otherwise), so
    that baselines and attribute perturbers get the same number of rewrites per comparison
    and a rule perturber is not charged for attributes it has no rule for."""
    names = [a.name for a in DEFAULT_ATTRIBUTES]
    for p in perturbers.values():
        if getattr(p, "attribute_aware", True) and hasattr(p, "supported_attributes"):
            supported = set(p.supported_attributes)
            names = [n for n in names if n in supported]
    if not names:
        raise RMXError("the perturbers support no attribute in common; pass attributes=...")
    return resolve_attributes(names)


def _unavailable(perturber: Any) -> str | None:
    """A perturber that may not run everywhere (a hub model offline) says why in
    ``why_unavailable()``; the study skips it with that reason instead of failing later."""
    check = getattr(perturber, "why_unavailable", None)
    return check() if callable(check) else None


def _quality_by_seed(pc: pd.DataFrame, samples: dict[int, list[str]],
                     explained: set[str]) -> list[dict[str, Any]]:
    """Average one (dataset, rm, perturber)'s per-comparison rows over each seed's sample.

    Ties (comparisons the RM does not order) have nothing to explain and are left out of the
    denominator; comparisons whose rewrites all failed stay in it, as not found.
    """
    records = []
    for seed, ids in samples.items():
        keep = [i for i in ids if i in explained]
        rows = pc[pc["comparison_id"].isin(keep)]
        for (side, kind), group in rows.groupby(["side", "kind"], sort=False):
            rec: dict[str, Any] = {"seed": seed, "side": side, "kind": kind,
                                   "n_comparisons": len(keep), "n_ties": len(ids) - len(keep)}
            rec["coverage"], rec["coverage_se"], rec["coverage_n"] = metrics.mean_and_se(
                group["found"].astype(float))
            found = group[group["found"]]
            for m in ("syntactic", "semantic", "diversity"):
                rec[m], rec[f"{m}_se"], rec[f"{m}_n"] = metrics.mean_and_se(found[m])
            records.append(rec)
    return records


def _summarise(quality: pd.DataFrame) -> pd.DataFrame:
    keys = ["dataset", "rm", "perturber", "side", "kind"]
    records = []
    for key, group in quality.groupby(keys, sort=False):
        rec = dict(zip(keys, key))
        rec["n_seeds"] = len(group)
        for m in QUALITY_METRICS:
            rec[m], rec[f"{m}_se"], _ = metrics.mean_and_se(group[m])
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)


def _agreement(originals: dict[str, pd.DataFrame], ids: Sequence[str]) -> pd.DataFrame:
    """Per comparison: each RM's preferred response and whether all RMs agree on it."""
    frame = pd.DataFrame({"comparison_id": list(ids)})
    prefs = []
    for rm, orig in originals.items():
        pref = orig.set_index("comparison_id")["preferred"]
        frame[f"preferred_{rm}"] = frame["comparison_id"].map(pref)
        prefs.append(frame[f"preferred_{rm}"])
    stacked = pd.concat(prefs, axis=1)
    frame["all_agree"] = stacked.notna().all(axis=1) & stacked.nunique(axis=1).eq(1)
    return frame


def evaluate(comparisons: Any, rms: Any, perturbers: Any, *, attributes: Any = None,
             seeds: int | Sequence[int] = 5, per_seed: int = 30,
             store: str | Path | Store | None = None, primary: str | None = None, k: int = 5,
             n_boot: int = 1000, embedder: metrics.Embedder | None = None,
             batch_size: int = 32, progress: bool = True) -> StudyResult:
    """Run the paper's study (see the module docstring) and return a :class:`StudyResult`.

    ``comparisons``: anything ``load_comparisons`` takes, or ``{name: data}`` for several data
    sets. ``rms`` / ``perturbers``: lists (named by identity) or ``{name: object}``; callables
    work as everywhere. A perturber that cannot run here (e.g. Polyjuice offline) is skipped
    with its reason in ``skipped``, and the study goes on. ``primary`` names the perturber whose
    explanations drive the RM-vs-RM part (default: the first attribute-aware one). ``store``
    makes the study resumable; without it everything is cached in memory for this call.
    """
    datasets = _datasets(comparisons)
    rms = _named(rms, "reward model")
    perturbers = _named(perturbers, "perturber")
    seed_list = _seeds(seeds)
    attrs = resolve_attributes(attributes) if attributes is not None \
        else default_attributes(perturbers)
    shared = store if isinstance(store, Store) else Store(store)
    # every text is embedded once for the whole study (distances, diversity, every RM)
    embedder = metrics.CachedEmbedder(embedder if embedder is not None
                                      else metrics.HashingEmbedder())

    skipped: dict[str, str] = {}
    for name, pert in perturbers.items():
        reason = _unavailable(pert)
        if reason:
            skipped[name] = reason
    aware = [n for n, p in perturbers.items()
             if n not in skipped and getattr(p, "attribute_aware", True)]
    if primary is None:
        candidates = aware or [n for n in perturbers if n not in skipped]
        primary = candidates[0] if candidates else None
    elif primary not in perturbers:
        raise RMXError(f"primary={primary!r} is not one of the perturbers {list(perturbers)}.")

    tables: dict[tuple[str, str, str], pd.DataFrame] = {}
    quality_rows: list[dict[str, Any]] = []
    per_comparison: list[pd.DataFrame] = []
    sens_frames, tau_rows, rep_frames, con_frames, agree_frames = [], [], [], [], []
    samples: dict[str, dict[int, list[str]]] = {}
    rm_identity = {}
    pert_identity = {}
    all_originals: dict[tuple[str, str], pd.DataFrame] = {}
    study_comparisons: dict[str, list[Comparison]] = {}

    runs = [(d, r, p) for d in datasets for r in rms for p in perturbers]
    bar = _progress(len(runs), progress)
    for ds_name, comps in datasets.items():
        samples[ds_name] = sample_ids([c.id for c in comps], seed_list, per_seed)
        if per_seed > len(comps) and len(seed_list) > 1:
            warnings.warn(f"data set {ds_name!r} has {len(comps)} comparisons, fewer than "
                          f"per_seed={per_seed}: every seed uses all of them.", stacklevel=2)
        union = set().union(*samples[ds_name].values())
        chosen = [c for c in comps if c.id in union]
        originals: dict[str, pd.DataFrame] = {}
        for rm_name, rm in rms.items():
            for p_name, pert in perturbers.items():
                if p_name in skipped:
                    bar.update(1)
                    continue
                explainer = Explainer(rm, pert, attributes=attrs, store=shared,
                                      batch_size=batch_size, embedder=embedder,
                                      progress=progress)
                rm_identity[rm_name] = explainer.rm.identity
                pert_identity[p_name] = explainer.perturber.identity
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
                tables[(ds_name, rm_name, p_name)] = table
                originals.setdefault(rm_name, result.originals)
                explained = set(result.originals.loc[~result.originals["tie"],
                                                     "comparison_id"])
                pc = metrics.comparison_quality(table, embedder,
                                                comparison_ids=sorted(explained))
                per_comparison.append(pc.assign(dataset=ds_name, rm=rm_name,
                                                perturber=p_name))
                for rec in _quality_by_seed(pc, samples[ds_name], explained):
                    quality_rows.append({"dataset": ds_name, "rm": rm_name,
                                         "perturber": p_name, **rec})
                bar.update(1)
        if not originals:
            continue
        for rm_name, orig in originals.items():
            all_originals[(ds_name, rm_name)] = orig
        study_comparisons[ds_name] = chosen
        agreement = _agreement(originals, [c.id for c in chosen])
        agree_frames.append(agreement.assign(dataset=ds_name))
        agreed = set(agreement.loc[agreement["all_agree"], "comparison_id"])
        rankings: dict[str, list[str]] = {}
        for (d, rm_name, p_name), table in tables.items():
            if d != ds_name or (p_name != primary and not getattr(
                    perturbers[p_name], "attribute_aware", True)):
                continue
            sub = table[table["comparison_id"].isin(agreed)]
            sens = sensitivity(sub, n_boot=n_boot)
            sens_frames.append(sens.assign(dataset=ds_name, rm=rm_name, perturber=p_name,
                                           n_agree=len(agreed)))
            if p_name == primary:
                rankings[rm_name] = ranking(sens)
                reps = representatives(sub, k=k, sens=sens)
                rep_frames.append(reps.assign(dataset=ds_name, rm=rm_name,
                                              rank=np.arange(1, len(reps) + 1)))
        for a, b in itertools.product(rankings, repeat=2):
            tau, p_value = kendall_tau(rankings[a], rankings[b])
            common = len(set(rankings[a]) & set(rankings[b]))
            tau_rows.append({"dataset": ds_name, "rm_a": a, "rm_b": b, "tau": tau,
                             "p_value": p_value, "n_attributes": common,
                             "n_agree": len(agreed)})
        for a, b in itertools.combinations(rankings, 2):
            con = contrasting_examples(tables[(ds_name, a, primary)],
                                       tables[(ds_name, b, primary)], k=k)
            con_frames.append(con.assign(dataset=ds_name, rm_a=a, rm_b=b,
                                         rank=np.arange(1, len(con) + 1)))
    bar.close()

    quality = pd.DataFrame.from_records(quality_rows, columns=QUALITY_COLUMNS)
    config = {
        "datasets": {d: len(c) for d, c in datasets.items()},
        "rms": {n: rm_identity.get(n, str(getattr(r, "identity", None) or repr(r)))
                for n, r in rms.items()},
        "perturbers": {n: pert_identity.get(n, str(getattr(p, "identity", None) or repr(p)))
                       for n, p in perturbers.items()},
        "baselines": [n for n, p in perturbers.items()
                      if not getattr(p, "attribute_aware", True)],
        "primary": primary, "attributes": [a.name for a in attrs], "seeds": seed_list,
        "per_seed": per_seed, "k": k, "n_boot": n_boot, "embedder": repr(embedder),
    }
    return StudyResult(
        quality=quality,
        quality_summary=_summarise(quality),
        per_comparison=_concat(per_comparison, ["dataset", "rm", "perturber",
                                                *metrics.QUALITY_COLUMNS]),
        sensitivity=_concat(sens_frames, ["dataset", "rm", "perturber", *SENSITIVITY_COLUMNS,
                                          "n_agree"]),
        tau=pd.DataFrame.from_records(tau_rows, columns=TAU_COLUMNS),
        representatives=_concat(rep_frames, EXAMPLE_COLUMNS),
        contrasting=_concat(con_frames, CONTRAST_COLUMNS),
        agreement=_concat(agree_frames, None),
        tables=tables, skipped=skipped, config=config, samples=samples,
        originals=all_originals, comparisons=study_comparisons)


def _concat(frames: list[pd.DataFrame], columns: list[str] | None) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=columns or [])
    out = pd.concat(frames, ignore_index=True)
    if columns is None:
        return out[["dataset", *[c for c in out.columns if c != "dataset"]]]
    return out[columns]


def _progress(total: int, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="study (data set × RM × perturber)", unit="run",
                disable=not enabled)

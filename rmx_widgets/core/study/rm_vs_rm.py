"""The second half of the study, per data set: how the RMs differ.

Everything here is restricted to the comparisons *all* RMs agree on
(:func:`rmx_widgets.core.compare.agreement` over every RM): elsewhere the rewrites explain
different preferences and are not comparable. On them: the global sensitivity (PFR with
bootstrap CIs) of each RM under each attribute-aware perturber, and, from the primary
perturber's explanations, each RM's attribute ranking, Kendall's τ-b between every two RMs'
PFR vectors (with a bootstrap interval over the agreed comparisons and a note where τ is
undefined, :func:`rmx_widgets.core.compare.pairwise_tau`),
the representative examples per RM and the contrasting examples per pair (which need only the
pair to agree, :func:`rmx_widgets.core.compare.contrasting_pairs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rmx_widgets.core.compare import agreement, contrasting_pairs, pairwise_tau, preferences
from rmx_widgets.core.representatives import representatives
from rmx_widgets.core.sensitivity import sensitivity
from rmx_widgets.core.study.validity import valid_only_sensitivity, valid_rows


@dataclass
class RMvsRM:
    """One data set's RM-vs-RM frames (without the ``dataset`` column the study adds); a
    frame is None where nothing was computed (no attribute perturber, fewer than two RMs)."""

    agreement: pd.DataFrame
    sensitivity: pd.DataFrame | None
    tau: pd.DataFrame | None
    representatives: pd.DataFrame | None
    contrasting: pd.DataFrame | None


def agreement_frame(originals: Mapping[str, pd.DataFrame], ids: Sequence[str]) -> pd.DataFrame:
    """Per comparison: each RM's preferred response (``preferred_<rm>``, empty for a tie) and
    whether all RMs agree on it (``all_agree``)."""
    frame = pd.DataFrame({"comparison_id": list(ids)})
    prefs = {rm: preferences(orig) for rm, orig in originals.items()}
    for rm, pref in prefs.items():
        frame[f"preferred_{rm}"] = frame["comparison_id"].map(pref)
    frame["all_agree"] = agreement(list(prefs.values()), ids).to_numpy()
    return frame


def rm_vs_rm(
    tables: Mapping[tuple[str, str], pd.DataFrame],
    originals: Mapping[str, pd.DataFrame],
    ids: Sequence[str],
    *,
    primary: str | None,
    aware: set[str],
    k: int,
    n_boot: int,
    null: str | None = None,
    valid_only: set[str] | frozenset[str] = frozenset(),
) -> RMvsRM:
    """The RM-vs-RM frames of one data set.

    ``tables``: the explanation tables keyed by (rm, perturber); ``originals``: each RM's
    originals; ``ids``: the data set's explained comparisons, in order; ``aware``: the
    attribute-aware perturbers (attribute-blind baselines have no PFR to speak of, unless one
    is the primary). ``null``: the attribute-blind baseline whose table (same RM, same
    comparisons, attributes and directions: the study gives baselines the same budget) is each
    RM's null in the sensitivity rows (``null_pfr`` … ``significant``, ``core.null_test``), so
    every attribute is tested against rewording; None leaves those columns empty.
    ``valid_only``: the perturbers (judged ones) whose figures count only the rewrites the
    judge found valid: their sensitivity is ``sensitivity(valid_only=True)`` (the
    ``n_judged`` / ``n_valid`` / ``valid_rate`` columns still describe every rewrite), and
    the primary's τ, representatives and contrasting examples use their valid rows only. The
    null baseline's rows are never judged, so they are never filtered.
    """
    agree = agreement_frame(originals, ids)
    agreed = set(agree.loc[agree["all_agree"], "comparison_id"])
    sens_frames, rep_frames = [], []
    primary_subs: dict[str, pd.DataFrame] = {}
    primary_tables: dict[str, pd.DataFrame] = {}
    for (rm, pert), table in tables.items():
        if pert != primary and pert not in aware:
            continue
        sub = table[table["comparison_id"].isin(agreed)]
        null_table = tables.get((rm, null)) if null is not None and null != pert else None
        if null_table is not None:
            null_table = null_table[null_table["comparison_id"].isin(agreed)]
        if pert in valid_only:
            sens = valid_only_sensitivity(sub, n_boot=n_boot, null=null_table)
            sub, table = valid_rows(sub), valid_rows(table)
        else:
            sens = sensitivity(sub, n_boot=n_boot, null=null_table)
        sens_frames.append(sens.assign(rm=rm, perturber=pert, n_agree=len(agreed)))
        if pert == primary:
            primary_subs[rm] = sub
            primary_tables[rm] = table
            reps = representatives(sub, k=k, sens=sens)
            rep_frames.append(reps.assign(rm=rm, rank=np.arange(1, len(reps) + 1)))
    return RMvsRM(
        agreement=agree,
        sensitivity=pd.concat(sens_frames, ignore_index=True) if sens_frames else None,
        tau=_tau(primary_subs, [i for i in ids if i in agreed], n_boot),
        representatives=pd.concat(rep_frames, ignore_index=True) if rep_frames else None,
        contrasting=contrasting_pairs(primary_tables, k=k) if len(primary_tables) > 1 else None,
    )


def _tau(subs: Mapping[str, pd.DataFrame], agreed: list, n_boot: int) -> pd.DataFrame | None:
    """The τ matrix rows of the primary perturber's tables on the agreed comparisons."""
    if not subs:
        return None
    return pairwise_tau(subs, agreed, n_boot=n_boot).assign(n_agree=len(agreed))

"""The paper's two tables of a study, per data set, built from ``quality_summary``.

"Interpreting Language Reward Models via Contrastive Explanations" reports its evaluation in
two tables, one row per (reward model, method):

- **Table 1**, coverage: the fraction of explained comparisons with at least one
  counterfactual (CF: the RM's preference flips) and semifactual (SF: it holds) when the chosen
  response is made worse (side ``chosen``), the rejected one made better (``rejected``), and on
  each side of the same comparison (``both``; so ``both`` ≤ min(chosen, rejected)). Beside the
  figures: ``n_comparisons`` (the coverage's denominator, ties left out) and, per side, the
  failed rewrites (``n_failed`` of ``n_rewrites``, ``failed_rate``) the figures rest on, since a
  failed rewrite counts as not found and a rate means nothing without its n. With a rewrite
  judge, beside them (appended last) the valid rewrites per side: ``n_judged``, ``n_valid``,
  ``valid_rate`` (NaN "not measured" where nothing was judged: no judge, or a baseline), and
  the formatted table gains a "valid rewrites" column next to "failed rewrites".
- **Table 2**, closeness and diversity: the syntactic distance (normalised token-level
  Levenshtein), semantic distance (1 − cosine similarity of embeddings) and diversity (mean
  pairwise semantic distance among one comparison's explanations) of the CFs and SFs found.
  They are taken on side ``either`` (:data:`TABLE2_SIDE`): every comparison with at least one
  CF (SF) on either side contributes the mean over *all* its CFs (SFs), both sides pooled
  (``metrics.comparison_quality``). The paper's Table 2 has no side columns, so it describes the
  explanations the method found, wherever it found them; side ``both`` would drop every
  comparison flipped on one side only, and the per-side figures are in ``main_table``. A NaN is
  "not measured" (no CF, or fewer than two for diversity), never 0.

The numbers are ``quality_summary``'s unchanged (so the ± is what it is there: over seeds for
disjoint samples, over the distinct comparisons otherwise, see ``StudyResult.se_note``); this
module only picks, reshapes, orders and formats them. Rows are grouped by RM (in the study's
order) and, within an RM, list the attribute-aware methods first (in the study's order), then
the baselines as the paper lists them: random words, paraphrase, Polyjuice, then any other
attribute-blind perturber. Which baseline is which is read from its identity's documented
stem (``random-words:…``, ``…:paraphrase-v…``, ``polyjuice:…``), since only the identities are
kept in a study's ``config``; the order is display only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

TABLE1_SIDES = ("chosen", "rejected", "both")
TABLE2_SIDE = "either"
TABLE2_METRICS = ("syntactic", "semantic", "diversity")
KINDS = ("CF", "SF")
NOT_MEASURED = "not measured"
NOT_JUDGED = "not judged"

_KEYS = ["dataset", "rm", "method", "role"]
_TAIL = ["n_seeds", "sampling", "se_over"]
_VALID = ("n_judged_{side}", "n_valid_{side}", "valid_rate_{side}")
TABLE1_COLUMNS = [
    *_KEYS,
    "n_comparisons",
    "n_ties",
    *[f"{k.lower()}_{s}{x}" for k in KINDS for s in TABLE1_SIDES for x in ("", "_se")],
    *[
        c.format(side=s)
        for s in TABLE1_SIDES
        for c in (
            "n_rewrites_{side}",
            "n_failed_{side}",
            "failed_rate_{side}",
            "failed_rate_{side}_se",
        )
    ],
    *_TAIL,
    # appended (issue 13): the rewrite judge's verdicts per side (study.validity)
    *[c.format(side=s) for s in TABLE1_SIDES for c in _VALID],
]
TABLE2_COLUMNS = [
    *_KEYS,
    "side",
    "n_comparisons",
    *[f"{k.lower()}_{m}{x}" for k in KINDS for m in TABLE2_METRICS for x in ("", "_se", "_n")],
    "n_rewrites",
    "n_failed",
    "failed_rate",
    "failed_rate_se",
    *_TAIL,
    "n_judged",
    "n_valid",
    "valid_rate",
]
#: the baselines in the order the paper lists them (matched on the perturber's identity)
_BASELINE_ORDER = ("random", "paraphrase", "polyjuice")


def baseline_kind(identity: str) -> str | None:
    """``"random"``, ``"paraphrase"`` or ``"polyjuice"`` for the toolkit's baselines (by the
    identity stems their classes document), else None."""
    if identity.startswith("random-words:"):
        return "random"
    if identity.startswith("polyjuice:"):
        return "polyjuice"
    if ":paraphrase-v" in identity:
        return "paraphrase"
    return None


def method_order(perturbers: Mapping[str, str], baselines: Sequence[str]) -> list[str]:
    """The study's perturber names (``{name: identity}``, in the study's order) as the paper
    lists methods: attribute-aware first, then random, paraphrase and Polyjuice, then the
    other baselines."""
    blind = set(baselines)
    aware = [n for n in perturbers if n not in blind]

    def rank(name: str) -> int:
        kind = baseline_kind(str(perturbers.get(name, "")))
        return _BASELINE_ORDER.index(kind) if kind is not None else len(_BASELINE_ORDER)

    # sorted is stable: baselines of one kind (or of none) keep the study's order
    return aware + sorted((n for n in perturbers if n in blind), key=rank)


def _ordered(
    frame: pd.DataFrame, datasets: Sequence[str], rms: Sequence[str], methods: list[str]
) -> pd.DataFrame:
    """``frame``'s rows by data set, RM and method in the study's orders (unknown ones last)."""

    def pos(values: Sequence[str]) -> dict[str, int]:
        return {v: i for i, v in enumerate(values)}

    orders = {"dataset": pos(datasets), "rm": pos(rms), "method": pos(methods)}
    key = pd.DataFrame(
        {c: frame[c].map(lambda v, o=o: o.get(v, len(o))) for c, o in orders.items()}
    )
    index = key.sort_values(list(orders), kind="stable").index
    return frame.loc[index].reset_index(drop=True)


def _rows(summary: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """One (dataset, rm, method) per group of ``summary``, with its role."""
    blind = set(config.get("baselines", []))
    s = summary.rename(columns={"perturber": "method"})
    return s.assign(role=["baseline" if m in blind else "attribute" for m in s["method"]])


def _pick(group: pd.DataFrame, side: str, kind: str) -> dict[str, Any]:
    rows = group[(group["side"] == side) & (group["kind"] == kind)]
    return rows.iloc[0].to_dict() if len(rows) else {}


def table1(summary: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Table 1 of every data set as one tidy numeric frame (:data:`TABLE1_COLUMNS`): per
    (dataset, rm, method) ``cf_<side>`` / ``sf_<side>`` coverage with ``_se`` for sides chosen,
    rejected and both, ``n_comparisons`` and ``n_ties``, and per side ``n_rewrites``,
    ``n_failed``, ``failed_rate`` (± ``failed_rate_se``) from ``summary``
    (``quality_summary``)."""
    records = []
    for key, group in _rows(summary, config).groupby(_KEYS, sort=False):
        rec: dict[str, Any] = dict(zip(_KEYS, key))
        first = group.iloc[0]
        rec["n_comparisons"], rec["n_ties"] = first["n_comparisons"], first["n_ties"]
        for kind in KINDS:
            for side in TABLE1_SIDES:
                row = _pick(group, side, kind)
                col = f"{kind.lower()}_{side}"
                rec[col] = row.get("coverage", math.nan)
                rec[f"{col}_se"] = row.get("coverage_se", math.nan)
        for side in TABLE1_SIDES:
            # CF and SF rows of one side share its rewrites: either gives the counts
            row = _pick(group, side, "CF") or _pick(group, side, "SF")
            rec[f"n_rewrites_{side}"] = row.get("n_rewrites", 0)
            rec[f"n_failed_{side}"] = row.get("n_failed", 0)
            rec[f"failed_rate_{side}"] = row.get("failed_rate", math.nan)
            rec[f"failed_rate_{side}_se"] = row.get("failed_rate_se", math.nan)
            for c in ("n_judged", "n_valid", "valid_rate"):
                rec[f"{c}_{side}"] = row.get(c, math.nan if c == "valid_rate" else 0)
        for c in _TAIL:
            rec[c] = first[c]
        records.append(rec)
    return _finish(records, TABLE1_COLUMNS, config)


def table2(summary: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    """Table 2 of every data set as one tidy numeric frame (:data:`TABLE2_COLUMNS`): per
    (dataset, rm, method), on side ``either`` (see the module docstring), ``cf_<metric>`` /
    ``sf_<metric>`` with ``_se`` and ``_n`` (the comparisons the mean is over) for syntactic,
    semantic and diversity, plus the side's rewrites and failed rate."""
    records = []
    for key, group in _rows(summary, config).groupby(_KEYS, sort=False):
        rec: dict[str, Any] = dict(zip(_KEYS, key))
        first = group.iloc[0]
        rec["side"], rec["n_comparisons"] = TABLE2_SIDE, first["n_comparisons"]
        for kind in KINDS:
            row = _pick(group, TABLE2_SIDE, kind)
            for m in TABLE2_METRICS:
                col = f"{kind.lower()}_{m}"
                rec[col] = row.get(m, math.nan)
                rec[f"{col}_se"] = row.get(f"{m}_se", math.nan)
                rec[f"{col}_n"] = row.get(f"{m}_n", 0)
        row = _pick(group, TABLE2_SIDE, "CF") or _pick(group, TABLE2_SIDE, "SF")
        for c in (
            "n_rewrites",
            "n_failed",
            "failed_rate",
            "failed_rate_se",
            "n_judged",
            "n_valid",
            "valid_rate",
        ):
            rec[c] = row.get(c, 0 if c.startswith("n_") else math.nan)
        for c in _TAIL:
            rec[c] = first[c]
        records.append(rec)
    return _finish(records, TABLE2_COLUMNS, config)


def _finish(
    records: list[dict[str, Any]], columns: list[str], config: Mapping[str, Any]
) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=columns)
    ints = [c for c in columns if c.startswith("n_") or c.endswith("_n")]
    # a summary made before the judge's columns existed has none: 0 judged
    frame[ints] = frame[ints].fillna(0)
    frame = frame.astype(dict.fromkeys(ints, "int64"))
    methods = method_order(dict(config.get("perturbers", {})), config.get("baselines", []))
    return _ordered(frame, list(config.get("datasets", [])), list(config.get("rms", [])), methods)


# -- display ---------------------------------------------------------------------------------


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def mean_se(mean: Any, se: Any, detail: str = "") -> str:
    """``"0.533 ± 0.041"`` (``detail``, e.g. ``"n=7"``, in brackets after it); ``"0.533
    (no s.e.)"`` when one value has no spread; ``"not measured"`` for a NaN mean (nothing to
    average), never 0."""
    notes = [detail] if detail else []
    if _isnan(mean):
        text = NOT_MEASURED
    elif _isnan(se):
        text, notes = f"{float(mean):.3f}", [*notes, "no s.e."]
    else:
        text = f"{float(mean):.3f} ± {float(se):.3f}"
    return f"{text} ({', '.join(notes)})" if notes else text


def _failed(rate: Any, se: Any, failed: Any, rewrites: Any) -> str:
    if not rewrites:
        return f"{NOT_MEASURED} (0 rewrites)"
    return mean_se(rate, se, f"{int(failed)} of {int(rewrites)}")


def valid_cell(n_valid: Any, n_judged: Any) -> str:
    """The valid rewrites of a Table 1 row: "0.900 (45 of 50 judged)", or "not judged"
    (no judge, a baseline, or no verdict the judge could decide)."""
    if _isnan(n_judged) or not int(n_judged):
        return NOT_JUDGED
    return f"{int(n_valid) / int(n_judged):.3f} ({int(n_valid)} of {int(n_judged)} judged)"


def format_table1(frame: pd.DataFrame, *, judged: bool = False) -> pd.DataFrame:
    """One data set's Table 1 as the paper prints it: RM, method, n, the six coverage cells
    ("mean ± se"), the failed rewrites of the row (side ``both``: all its rewrites) as "rate ±
    se (failed of rewrites)", with ``judged`` (the study had a rewrite judge) the valid
    rewrites of the row next to them (:func:`valid_cell`), and which standard error the ±
    is."""
    rows = []
    for r in frame.to_dict("records"):
        row: dict[str, Any] = {"RM": r["rm"], "method": r["method"], "n": int(r["n_comparisons"])}
        for kind in KINDS:
            for side in TABLE1_SIDES:
                col = f"{kind.lower()}_{side}"
                row[f"{kind} {side.capitalize()}"] = mean_se(r[col], r[f"{col}_se"])
        row["failed rewrites"] = _failed(
            r["failed_rate_both"],
            r["failed_rate_both_se"],
            r["n_failed_both"],
            r["n_rewrites_both"],
        )
        if judged:
            row["valid rewrites"] = valid_cell(r.get("n_valid_both"), r.get("n_judged_both"))
        row["± s.e. over"] = r["se_over"]
        rows.append(row)
    columns = ["RM", "method", "n", *[f"{k} {s.capitalize()}" for k in KINDS for s in TABLE1_SIDES]]
    columns += ["failed rewrites", *(["valid rewrites"] if judged else []), "± s.e. over"]
    return pd.DataFrame(rows, columns=columns)


def format_table2(frame: pd.DataFrame) -> pd.DataFrame:
    """One data set's Table 2 as the paper prints it: RM, method, and per kind (CF, SF) the
    syntactic and semantic distance and diversity as "mean ± se (n=…)", "not measured (n=0)"
    where none was found, and which standard error the ± is."""
    rows = []
    for r in frame.to_dict("records"):
        row: dict[str, Any] = {"RM": r["rm"], "method": r["method"]}
        for kind in KINDS:
            for m in TABLE2_METRICS:
                col = f"{kind.lower()}_{m}"
                row[f"{kind} {m}"] = mean_se(r[col], r[f"{col}_se"], f"n={int(r[f'{col}_n'])}")
        row["± s.e. over"] = r["se_over"]
        rows.append(row)
    columns = ["RM", "method", *[f"{k} {m}" for k in KINDS for m in TABLE2_METRICS]]
    return pd.DataFrame(rows, columns=[*columns, "± s.e. over"])


def judge_note(judge: str | None, valid_only: bool) -> str:
    """What the "valid rewrites" column is and what valid-only changed, in words ("" without
    a judge)."""
    if not judge:
        return ""
    note = (
        f" 'valid rewrites': the fraction of the row's judged rewrites that the rewrite judge "
        f"{judge} found valid (the attribute moved the asked way, little else changed), with "
        "the counts; baselines are not judged (they are not asked to move an attribute)."
    )
    if valid_only:
        note += (
            " Valid only: a CF (SF) counts as found only when its rewrite was judged valid "
            "(baselines unchanged)."
        )
    return note


def caption(
    number: int, dataset: str, se_note: str, judge: str | None = None, valid_only: bool = False
) -> str:
    """What each cell of Table ``number`` of ``dataset`` is, in words (plain text: the faces
    escape it); ``judge`` (its identity) and ``valid_only`` add :func:`judge_note`."""
    if number == 1:
        return (
            f"Table 1 ({dataset}): coverage, the fraction of the n explained comparisons (ties "
            "left out) with at least one counterfactual (CF: the RM's preference flips) or "
            "semifactual (SF: it holds) when the chosen response is made worse (Chosen), the "
            "rejected one made better (Rejected), or on each side of the same comparison "
            "(Both). Failed rewrites count as not found; 'failed rewrites' is the failed "
            "fraction of all the row's rewrites (failed of rewrites)."
            + judge_note(judge, valid_only)
            + f" Each cell: the {se_note}."
        )
    return (
        f"Table 2 ({dataset}), side '{TABLE2_SIDE}' (both sides pooled): for each comparison "
        "with at least one CF (SF) on either side, the mean over all its CFs (SFs) of the "
        "syntactic distance (normalised token-level Levenshtein) and the semantic distance "
        "(1 − cosine similarity of embeddings) to the original, and diversity, the mean "
        "pairwise semantic distance among them (needs at least two); n = the comparisons "
        "behind the cell, 'not measured' = none found (never 0). Small distances are good for "
        "a CF, "
        f"large ones for an SF."
        + (" Valid only: the CFs (SFs) judged valid." if judge and valid_only else "")
        + f" Each cell: the {se_note}."
    )

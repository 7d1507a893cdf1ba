"""Quality of contrastive explanations: distances, coverage, diversity (DESIGN §1).

A good counterfactual is *close* to the original (a small edit flipped the preference); a good
semifactual is *far* yet does not flip. These functions measure that on the explanation table,
the DataFrame the Explainer produces (one row per new comparison), so the engine, the widgets,
the CLI and the report all compute the numbers the same way.

Semantic distance needs an embedder. The default :class:`HashingEmbedder` works offline and
deterministically, but it is *lexical* (hashed word n-grams): it sees shared words, not shared
meaning. Pass any callable ``list[str] -> np.ndarray`` (e.g. a sentence-transformers model's
``encode``) for a truly semantic distance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from rmx_widgets.core.edit_distance import TOKEN, token_edit_distance
from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.hand_edits import without_hand_edits
from rmx_widgets.core.hashing import HashingEmbedder  # defined there, public here

#: Where a comparison's explanations may be found: on the chosen side, the rejected side, on
#: either, or on *both* (a comparison counts under "both" only when each side has one).
SCOPES = ("chosen", "rejected", "either", "both")
OUTCOMES = ("CF", "SF", "failed")

# Words (letters/digits/underscore runs, keeping in-word apostrophes) or single punctuation
# marks: "don't stop!" -> ["don't", "stop", "!"]. Punctuation counts as its own token so that
# changing "." into "?" is one edit, not a change of the neighbouring word.
_TOKEN = TOKEN


def require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise a :class:`DataError` naming the missing columns, so a user who passes a
    hand-made or truncated table learns what to add instead of getting a KeyError."""
    if not isinstance(table, pd.DataFrame):
        raise DataError(
            f"{what} needs the explanation table (a pandas DataFrame), got {type(table).__name__}."
        )
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"{what} needs the explanation-table column(s) {missing}; "
            "pass result.table from Explainer.explain()."
        )


def require_outcomes(table: pd.DataFrame, what: str) -> None:
    """Raise a :class:`DataError` when a row's ``outcome`` is not CF / SF / failed, or a
    successful row's ``direction`` is not worse / better: such a row would otherwise be
    counted silently in the wrong cell (a missing direction compares unequal to "better" and
    would land in "worse"), so a hand-made or corrupt table is refused, never read leniently."""
    outcome = table["outcome"]
    bad = ~outcome.isin(OUTCOMES)
    if bool(bad.any()):
        seen = sorted({str(v) for v in outcome[bad].head(1000)})[:3]
        raise DataError(
            f"{what}: {int(bad.sum())} row(s) with an outcome other than CF, SF or failed "
            f"(e.g. {', '.join(seen)})."
        )
    direction = table["direction"][outcome != "failed"]
    bad = ~direction.isin(("worse", "better"))
    if bool(bad.any()):
        seen = sorted({str(v) for v in direction[bad].head(1000)})[:3]
        raise DataError(
            f"{what}: {int(bad.sum())} successful rewrite(s) whose direction is not worse or "
            f"better (e.g. {', '.join(seen)}); every CF / SF row needs its direction."
        )


def tokenize(text: str) -> list[str]:
    """Word and punctuation tokens, the unit of the syntactic distance."""
    return _TOKEN.findall(text)


def syntactic_distance(a: str, b: str) -> float:
    """Normalised token-level Levenshtein distance in [0, 1].

    Tokens rather than characters, because an explanation edits words: replacing one word out of
    four is 0.25 whatever the word lengths. Normalised by the longer token list (rapidfuzz), so
    the number is comparable across short and long responses. Two empty texts are at distance 0.

    Bounded in time and memory (``core.edit_distance``): exact for pairs up to about 31 k tokens
    each and for longer pairs whose edits are localised; only a long pair that differs a lot
    gets an upper bound, with a warning (``token_edit_distance(a, b).exact`` says which).
    """
    return float(token_edit_distance(a, b).normalized)


def syntactic_distances(originals: Sequence[str], perturbed: Sequence[str | None]) -> np.ndarray:
    """:func:`syntactic_distance` pairwise, NaN where the perturbation failed (``None``)."""
    _check_pairs(originals, perturbed)
    return np.array(
        [np.nan if p is None else syntactic_distance(o, p) for o, p in zip(originals, perturbed)],
        dtype=float,
    )


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps a list of texts to a (len(texts), dim) array of vectors."""

    def __call__(self, texts: list[str]) -> np.ndarray: ...


class CachedEmbedder:
    """Embeds each distinct text once, however often it is asked for.

    A study embeds the same texts many times: the Explainer for semantic distances, then the
    diversity of the CFs and SFs, for every RM that asks for the same rewrites. With a model
    embedder that is real GPU/CPU time, so the study wraps its embedder in this for its
    lifetime. Vectors are kept as the wrapped embedder returned them.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        new = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if new:
            vectors = np.asarray(self.embedder(new), dtype=np.float64)
            if vectors.ndim != 2 or vectors.shape[0] != len(new):
                raise RMXError(
                    f"the embedder must return an array of shape (n_texts, dim); "
                    f"for {len(new)} texts it returned shape {vectors.shape}."
                )
            self._vectors.update(zip(new, vectors))
        if not texts:
            return np.zeros((0, 1))
        return np.stack([self._vectors[t] for t in texts])

    def __repr__(self) -> str:
        return repr(self.embedder)


def _check_pairs(originals: Sequence, perturbed: Sequence) -> None:
    if len(originals) != len(perturbed):
        raise DataError(
            f"originals and perturbed must have the same length "
            f"({len(originals)} vs {len(perturbed)})."
        )


def _embed(texts: list[str], embedder: Embedder) -> np.ndarray:
    """Run the embedder and L2-normalise, so user embedders need not normalise themselves."""
    if not texts:
        return np.zeros((0, 1))
    vectors = np.asarray(embedder(list(texts)), dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise RMXError(
            f"the embedder must return an array of shape (n_texts, dim); for "
            f"{len(texts)} texts it returned shape {vectors.shape}."
        )
    if not np.all(np.isfinite(vectors)):
        raise RMXError("the embedder returned NaN or infinite values.")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors


def _cosine_distance(u: np.ndarray, v: np.ndarray, same_text: np.ndarray) -> np.ndarray:
    """1 - cosine of normalised rows; a zero vector (e.g. empty text) is at distance 1 from
    anything except an identical text."""
    nonzero = (np.linalg.norm(u, axis=1) > 0) & (np.linalg.norm(v, axis=1) > 0)
    dist = np.where(nonzero, 1.0 - np.sum(u * v, axis=1), 1.0)
    dist = np.where(same_text, 0.0, dist)
    return np.clip(dist, 0.0, 2.0)


def semantic_distances(
    originals: Sequence[str], perturbed: Sequence[str | None], embedder: Embedder | None = None
) -> np.ndarray:
    """1 − cosine similarity of embeddings per pair; NaN where the perturbation failed.

    All texts are embedded in one call, which lets batched model embedders run efficiently.
    """
    _check_pairs(originals, perturbed)
    embedder = embedder if embedder is not None else HashingEmbedder()
    out = np.full(len(originals), np.nan)
    keep = [i for i, p in enumerate(perturbed) if p is not None]
    if not keep:
        return out
    a = [originals[i] for i in keep]
    b = [p for p in perturbed if p is not None]  # the same order as ``keep``
    vectors = _embed(a + b, embedder)
    same = np.array([x == y for x, y in zip(a, b)])
    out[keep] = _cosine_distance(vectors[: len(a)], vectors[len(a) :], same)
    return out


COVERAGE_COLUMNS = [
    "side",
    "n_comparisons",
    "cf_coverage",
    "sf_coverage",
    "n_rewrites",
    "n_failed",
    "failed_rate",
]


def scope_found(table: pd.DataFrame, comparison_ids: Sequence | None = None) -> pd.DataFrame:
    """Per explained comparison × scope: is a CF / an SF found, and how many rewrites failed.

    The one definition of "found" behind :func:`coverage`, :func:`quality_summary` and the
    study's :func:`comparison_quality`, so they cannot disagree. The explained comparisons are
    ``comparison_ids`` (default: every comparison with at least one row, failed or not; ties
    have no rows). A CF (SF) is found in ``chosen`` / ``rejected`` when that side has a row
    with that outcome, in ``either`` when a side has one, in ``both`` when each side has its
    own; a failed rewrite is never found. ``n_rewrites`` / ``n_failed`` count the rows (and
    the failed ones) in the scope: one side, or both sides for ``either`` and ``both``.
    Columns: comparison_id, side, cf, sf, n_rewrites, n_failed; comparisons in first-appearance
    (or ``comparison_ids``) order, scopes in ``SCOPES`` order within each.
    """
    require_columns(table, ["comparison_id", "side", "outcome"], "coverage")
    table = without_hand_edits(table)  # a person's probes are no sample of the perturber's
    ids = (
        list(pd.unique(table["comparison_id"])) if comparison_ids is None else list(comparison_ids)
    )
    frame = pd.DataFrame(
        {
            "comparison_id": table["comparison_id"].to_numpy(),
            "side": table["side"].to_numpy(),
            "cf": (table["outcome"] == "CF").to_numpy(),
            "sf": (table["outcome"] == "SF").to_numpy(),
            "failed": (table["outcome"] == "failed").to_numpy().astype(np.int64),
        }
    )
    per = frame.groupby(["comparison_id", "side"], sort=False).agg(
        cf=("cf", "any"), sf=("sf", "any"), n=("cf", "size"), failed=("failed", "sum")
    )
    side: dict[str, dict[str, np.ndarray]] = {}
    for name in ("chosen", "rejected"):
        rows = per[per.index.get_level_values("side") == name].droplevel("side")
        side[name] = {
            col: rows[col].reindex(ids, fill_value=fill).to_numpy(dtype)
            for col, fill, dtype in (
                ("cf", False, bool),
                ("sf", False, bool),
                ("n", 0, np.int64),
                ("failed", 0, np.int64),
            )
        }
    c, r = side["chosen"], side["rejected"]
    scopes = {
        "chosen": (c["cf"], c["sf"], c["n"], c["failed"]),
        "rejected": (r["cf"], r["sf"], r["n"], r["failed"]),
        "either": (
            c["cf"] | r["cf"],
            c["sf"] | r["sf"],
            c["n"] + r["n"],
            c["failed"] + r["failed"],
        ),
        "both": (c["cf"] & r["cf"], c["sf"] & r["sf"], c["n"] + r["n"], c["failed"] + r["failed"]),
    }
    records = [
        (cid, scope, bool(v[0][i]), bool(v[1][i]), int(v[2][i]), int(v[3][i]))
        for i, cid in enumerate(ids)
        for scope, v in scopes.items()
    ]
    out = pd.DataFrame.from_records(
        records, columns=["comparison_id", "side", "cf", "sf", "n_rewrites", "n_failed"]
    )
    return out.astype({"cf": bool, "sf": bool, "n_rewrites": np.int64, "n_failed": np.int64})


def coverage(table: pd.DataFrame, comparison_ids: Sequence | None = None) -> pd.DataFrame:
    """Per scope (chosen, rejected, either, both): the fraction of explained comparisons with a
    CF / SF, and how many rewrites failed.

    Coverage = #explained comparisons with ≥ 1 CF (SF) in the scope / #explained comparisons,
    where the explained comparisons are the non-tie ones in the table (every comparison with at
    least one row, failed or not; or ``comparison_ids``) and a failed rewrite counts as not
    found (see :func:`scope_found`). Every scope has the same denominator, so always
    both ≤ min(chosen, rejected) ≤ max(chosen, rejected) ≤ either ≤ 1. Beside it,
    ``failed_rate`` = n_failed / n_rewrites, the failed share of the scope's rewrites, tells
    how much of the missing coverage is the perturber's. Columns: side, n_comparisons,
    cf_coverage, sf_coverage, n_rewrites, n_failed, failed_rate; NaN (not measured) when
    n_comparisons (resp. n_rewrites) is 0.
    """
    found = scope_found(table, comparison_ids)
    records = []
    for scope in SCOPES:
        rows = found[found["side"] == scope]
        n, n_rewrites, n_failed = (
            len(rows),
            int(rows["n_rewrites"].sum()),
            int(rows["n_failed"].sum()),
        )
        records.append(
            (
                scope,
                n,
                rows["cf"].sum() / n if n else np.nan,
                rows["sf"].sum() / n if n else np.nan,
                n_rewrites,
                n_failed,
                n_failed / n_rewrites if n_rewrites else np.nan,
            )
        )
    out = pd.DataFrame.from_records(records, columns=COVERAGE_COLUMNS)
    return out.astype(
        {
            "n_comparisons": np.int64,
            "cf_coverage": float,
            "sf_coverage": float,
            "failed_rate": float,
        }
    )


def diversity(table: pd.DataFrame, embedder: Embedder | None = None) -> pd.DataFrame:
    """Per comparison: the mean pairwise semantic distance among its CF perturbations.

    Several CFs that all say the same thing explain less than CFs that flip the preference in
    different ways. NaN where a comparison has fewer than two CFs. Columns: comparison_id,
    n_cf, diversity; one row per comparison in the table, in order of first appearance.
    """
    require_columns(table, ["comparison_id", "outcome", "perturbed"], "diversity")
    embedder = embedder if embedder is not None else HashingEmbedder()
    ids = pd.unique(table["comparison_id"])
    cfs = table[(table["outcome"] == "CF") & table["perturbed"].notna()]
    texts = [str(t) for t in cfs["perturbed"]]
    vectors = _embed(texts, embedder)
    positions: dict[object, list[int]] = {}
    for pos, cid in enumerate(cfs["comparison_id"]):
        positions.setdefault(cid, []).append(pos)
    records = [
        {
            "comparison_id": cid,
            "n_cf": len(positions.get(cid, [])),
            "diversity": _pairwise_mean(vectors, positions.get(cid, []), texts),
        }
        for cid in ids
    ]
    return pd.DataFrame.from_records(records, columns=["comparison_id", "n_cf", "diversity"])


def quality_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage plus mean distances of CFs and SFs, per scope (chosen, rejected, either, both).

    Reads the distances already stored in the table (the Explainer computes them once), so the
    summary is cheap enough to refresh after every landed batch. Under ``both`` the distances
    average the explanations of the comparisons that have one on each side. Columns: those of
    :func:`coverage` (the same numbers: side, n_comparisons, cf_coverage, sf_coverage,
    n_rewrites, n_failed, failed_rate), then n_cf, n_sf, cf_syntactic, cf_semantic,
    sf_syntactic, sf_semantic (NaN where there is nothing to average).
    """
    require_columns(
        table,
        ["comparison_id", "side", "outcome", "syntactic_distance", "semantic_distance"],
        "quality_summary",
    )
    table = without_hand_edits(table)
    cov = coverage(table).set_index("side")
    found = scope_found(table)
    records = []
    for scope in SCOPES:
        rows = table if scope in ("either", "both") else table[table["side"] == scope]
        kinds = {}
        for kind in ("CF", "SF"):
            kind_rows = rows[rows["outcome"] == kind]
            if scope == "both":
                each = found[(found["side"] == "both") & found[kind.lower()]]
                kind_rows = kind_rows[kind_rows["comparison_id"].isin(each["comparison_id"])]
            kinds[kind] = kind_rows
        records.append(
            {
                **cov.loc[scope].to_dict(),
                "side": scope,
                "n_cf": len(kinds["CF"]),
                "n_sf": len(kinds["SF"]),
                "cf_syntactic": _mean(kinds["CF"]["syntactic_distance"]),
                "cf_semantic": _mean(kinds["CF"]["semantic_distance"]),
                "sf_syntactic": _mean(kinds["SF"]["syntactic_distance"]),
                "sf_semantic": _mean(kinds["SF"]["semantic_distance"]),
            }
        )
    out = pd.DataFrame.from_records(records)
    out = out[COVERAGE_COLUMNS + [c for c in out.columns if c not in COVERAGE_COLUMNS]]
    return out.astype({"n_comparisons": np.int64, "n_rewrites": np.int64, "n_failed": np.int64})


def _mean(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else np.nan


# --------------------------------------------------------------------------------------------
# Per-comparison quality, the unit of the paper's evaluation (rmx_widgets.core.study)
# --------------------------------------------------------------------------------------------

QUALITY_COLUMNS = [
    "comparison_id",
    "side",
    "kind",
    "found",
    "n",
    "syntactic",
    "semantic",
    "diversity",
    "n_rewrites",
    "n_failed",
]
# the columns comparison_quality reads from an explanation table
_QUALITY_NEEDED = [
    "comparison_id",
    "side",
    "outcome",
    "original",
    "perturbed",
    "syntactic_distance",
    "semantic_distance",
]


def comparison_quality(
    table: pd.DataFrame, embedder: Embedder | None = None, comparison_ids: Sequence | None = None
) -> pd.DataFrame:
    """Per comparison × scope × kind (CF, SF): found?, how many, mean distances, diversity.

    This is the unit the evaluation averages over comparisons (DESIGN §1): ``found`` gives the
    coverage, ``syntactic``/``semantic`` the mean distance of the explanations found to their
    original, ``diversity`` the mean pairwise semantic distance among them (NaN below two).
    ``found`` is :func:`scope_found`'s, the definition :func:`coverage` averages, so the study's
    coverage equals ``coverage(table)`` on the same comparisons. Failed rewrites never count as
    found, so a perturber that often fails gets a lower coverage — that is a property of the
    perturber the evaluation must show — and ``n_rewrites``/``n_failed`` say how often it
    failed in the scope. Under ``both`` a comparison is found only if each side has one, and
    its distances pool both sides' explanations; under ``either`` they pool whatever was
    found. ``comparison_ids`` lists the comparisons to report
    (default: those in the table), so comparisons with no rows at all report not found.
    """
    require_columns(table, _QUALITY_NEEDED, "comparison_quality")
    embedder = embedder if embedder is not None else HashingEmbedder()
    ids = (
        list(pd.unique(table["comparison_id"])) if comparison_ids is None else list(comparison_ids)
    )
    found_rows = table[table["outcome"].isin(["CF", "SF"]) & table["perturbed"].notna()]
    texts = [str(t) for t in found_rows["perturbed"]]
    vectors = _embed(texts, embedder)
    groups = _positions(found_rows)
    syn = pd.to_numeric(found_rows["syntactic_distance"], errors="coerce").to_numpy(float)
    sem = pd.to_numeric(found_rows["semantic_distance"], errors="coerce").to_numpy(float)

    flags = {
        (cid, scope): row
        for cid, scope, *row in scope_found(table, ids).itertuples(index=False, name=None)
    }
    records = []
    for cid in ids:
        for kind in ("CF", "SF"):
            chosen = groups.get((cid, "chosen", kind), [])
            rejected = groups.get((cid, "rejected", kind), [])
            for scope in SCOPES:
                cf, sf, n_rewrites, n_failed = flags[(cid, scope)]
                found = cf if kind == "CF" else sf
                pos = _scope_positions(scope, chosen, rejected) if found else []
                records.append(
                    (
                        cid,
                        scope,
                        kind,
                        found,
                        len(pos),
                        _nanmean(syn[pos]),
                        _nanmean(sem[pos]),
                        _pairwise_mean(vectors, pos, texts),
                        n_rewrites,
                        n_failed,
                    )
                )
    out = pd.DataFrame.from_records(records, columns=QUALITY_COLUMNS)
    return out.astype(
        {
            "found": bool,
            "n": np.int64,
            "syntactic": float,
            "semantic": float,
            "diversity": float,
            "n_rewrites": np.int64,
            "n_failed": np.int64,
        }
    )


def _positions(found_rows: pd.DataFrame) -> dict[tuple, list[int]]:
    """(comparison, side, kind) -> the positions of its rows in ``found_rows`` (and so in the
    vectors of their texts)."""
    groups: dict[tuple, list[int]] = {}
    for row, key in enumerate(
        zip(found_rows["comparison_id"], found_rows["side"], found_rows["outcome"])
    ):
        groups.setdefault(key, []).append(row)
    return groups


def _scope_positions(scope: str, chosen: list[int], rejected: list[int]) -> list[int]:
    """The explanations a found scope pools: one side's, or both sides' for ``either`` and
    ``both`` (whether the scope counts as found is :func:`scope_found`'s)."""
    if scope == "chosen":
        return chosen
    if scope == "rejected":
        return rejected
    return chosen + rejected


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else np.nan


def _pairwise_mean(vectors: np.ndarray, pos: list[int], texts: list[str]) -> float:
    """Mean pairwise cosine distance among the rows at ``pos`` (identical texts at 0, a zero
    vector at 1 from anything else), the same convention as :func:`diversity`."""
    if len(pos) < 2:
        return np.nan
    v = vectors[pos]
    dist = 1.0 - v @ v.T
    zero = np.linalg.norm(v, axis=1) == 0
    dist[zero[:, None] | zero[None, :]] = 1.0
    t = [texts[p] for p in pos]
    dist[np.array([[x == y for y in t] for x in t])] = 0.0
    upper = np.triu_indices(len(pos), k=1)
    return float(np.clip(dist[upper], 0.0, 2.0).mean())


def mean_and_se(values: pd.Series | np.ndarray) -> tuple[float, float, int]:
    """Mean, standard error of the mean (sample std / √n) and n of the finite values.

    SE is NaN for fewer than two values: one number says nothing about its spread.
    """
    arr = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
    arr = arr[np.isfinite(arr)]
    n = len(arr)
    if n == 0:
        return np.nan, np.nan, 0
    se = float(arr.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    return float(arr.mean()), se, n

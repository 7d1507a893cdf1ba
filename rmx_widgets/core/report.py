"""A standalone, offline HTML report of one explanation run.

One file that opens anywhere, with no network, built from :mod:`rmx_widgets.core.html`'s
pieces and under its safety rules: the Vega libraries are inlined, every piece of text that
came from a model or a data set (prompts, responses, perturbations, failure reasons, even
attribute and model names) is escaped, and the chart spec travels as safe JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from rmx_widgets.core.charts import sensitivity_chart
from rmx_widgets.core.html import (
    example_html,
    html_table,
    readability_caption,
    standalone_page,
    summary_table_html,
    write_page,
)
from rmx_widgets.core.metrics import quality_summary, require_columns
from rmx_widgets.core.readability import failed_text
from rmx_widgets.core.representatives import representatives
from rmx_widgets.core.sensitivity import BASE_SENSITIVITY_COLUMNS, attribute_order, sensitivity
from rmx_widgets.core.validity_rates import row_valid_text, valid_text, validity_totals

_REPORT_COLUMNS = [
    "comparison_id",
    "prompt",
    "side",
    "attribute",
    "direction",
    "original",
    "perturbed",
    "reward_original",
    "reward_perturbed",
    "reward_other",
    "margin_before",
    "margin_after",
    "outcome",
]
_TEXT_COLUMNS = ("prompt", "original", "perturbed")
CHART_ID = "rmx-sensitivity-chart"
SPEC_ID = "rmx-sensitivity-spec"


def _summary_rows(table: pd.DataFrame, extra: Mapping[str, object] | None) -> pd.DataFrame:
    outcomes = table["outcome"].value_counts()
    n_cf, n_sf = int(outcomes.get("CF", 0)), int(outcomes.get("SF", 0))
    items: list[tuple[str, object]] = [
        (
            "reward model(s)",
            ", ".join(map(str, pd.unique(table["rm"].dropna()))) if "rm" in table.columns else "–",
        ),
        (
            "perturber(s)",
            ", ".join(map(str, pd.unique(table["perturber"].dropna())))
            if "perturber" in table.columns
            else "–",
        ),
        ("comparisons", int(table["comparison_id"].nunique())),
        ("attributes", int(table["attribute"].nunique())),
        ("perturbations", len(table)),
        ("counterfactuals (CF)", n_cf),
        ("semifactuals (SF)", n_sf),
        ("failed perturbations", int(outcomes.get("failed", 0))),
        ("valid rewrites (of judged)", _valid_cell(table)),
        ("overall flip rate", n_cf / (n_cf + n_sf) if n_cf + n_sf else math.nan),
    ]
    for key, value in (extra or {}).items():
        items.append((str(key), value))
    return pd.DataFrame(items, columns=["quantity", "value"], dtype=object)


def _valid_cell(table: pd.DataFrame) -> str:
    """The valid-rewrite rate with its counts (``core.validity_rates``), or why it is missing."""
    totals = validity_totals(table)
    text = valid_text(totals["valid"], totals["judged"])
    return text if totals["judged"] else f"{text} (no rewrite judge verdict)"


def _validity_section(table: pd.DataFrame, sens: pd.DataFrame, valid_only: bool) -> list[str]:
    """Per attribute (pooled over directions): the failed rate (failed / attempted, counted
    from the table, so also right when ``sens`` is valid-only) beside the valid-rewrite rate
    and how many rewrites were judged; nothing for a sensitivity table saved before the
    validity columns existed."""
    if not {"n_judged", "n_valid"} <= set(sens.columns):
        return []
    pooled = sens[sens["direction"] == "both"]
    attempted = table.groupby("attribute", sort=False)["outcome"]
    n_failed = attempted.agg(lambda o: int((o == "failed").sum())).to_dict()
    n_ok = attempted.agg(lambda o: int((o != "failed").sum())).to_dict()
    names = [str(a) for a in pooled["attribute"]]
    rows = pd.DataFrame(
        {
            "attribute": names,
            "failed": [
                failed_text(n_ok.get(a, 0), n_failed.get(a, 0)) for a in pooled["attribute"]
            ],
            "valid (of judged)": [row_valid_text(r) for r in pooled.to_dict("records")],
            "n_judged": pooled["n_judged"].to_numpy(),
        },
        dtype=object,
    )
    note = (
        " The sensitivity figures above are computed on the valid rewrites only."
        if valid_only
        else ""
    )
    return [
        "<h2>Rewrite validity</h2>",
        '<p class="meta">Did each rewrite do what it was asked? A rewrite judge gave each '
        "successful rewrite a verdict: valid (the attribute moved the asked way and little "
        "else changed), invalid, or undecided (left out of n_judged). valid = valid/judged "
        "(rate); &quot;not measured&quot; when no rewrite of the attribute was judged. failed "
        f"= failed/attempted rewrites.{note}</p>",
        html_table(rows),
    ]


def _fallback_examples(table: pd.DataFrame, k: int) -> list:
    """Without representatives (too few attributes), show the comparisons with most CFs."""
    counts = (
        table.assign(_cf=table["outcome"] == "CF").groupby("comparison_id", sort=False)["_cf"].sum()
    )
    frame = counts.reset_index().rename(columns={"_cf": "cf"})
    frame["_id"] = frame["comparison_id"].astype(str)
    return list(frame.sort_values(["cf", "_id"], ascending=[False, True]).head(k)["comparison_id"])


def report_html(
    table: pd.DataFrame,
    *,
    title: str = "rmx-widgets report",
    sens: pd.DataFrame | None = None,
    k: int = 5,
    summary: Mapping[str, object] | None = None,
    example_rows: Callable[[list], pd.DataFrame] | None = None,
    expectations: Sequence[Any] | None = None,
) -> str:
    """The report as one HTML string (see :func:`write_report`)."""
    needed = [c for c in _REPORT_COLUMNS if example_rows is None or c not in _TEXT_COLUMNS]
    require_columns(table, needed, "the report")
    if sens is None:
        sens = sensitivity(table)
    require_columns(sens, BASE_SENSITIVITY_COLUMNS, "the report's sensitivity table")
    order = attribute_order(sens)
    valid_only = bool(sens.attrs.get("valid_only")) or bool(
        (summary or {}).get("sensitivity_valid_only")
    )
    spec = sensitivity_chart(sens, title="Preference flip rate per attribute").to_dict()
    sections = [
        *_summary_section(table, title, summary),
        *_sensitivity_section(sens, valid_only),
        *_validity_section(table, sens, valid_only),
        *_quality_section(table),
        *_failures_section(table),
        *_expectations_section(table, expectations),
        *_examples_section(table, sens, k, order, example_rows),
    ]
    embed = (
        f'const spec = JSON.parse(document.getElementById("{SPEC_ID}").textContent);\n'
        f'vegaEmbed("#{CHART_ID}", spec, {{"mode": "vega-lite", "actions": false}})'
        ".catch(console.error);"
    )
    return standalone_page(title, sections, data_id=SPEC_ID, data=spec, embed_js=embed)


def _summary_section(
    table: pd.DataFrame, title: str, summary: Mapping[str, object] | None
) -> list[str]:
    return [
        f"<h1>{escape(title)}</h1>",
        '<p class="meta">Contrastive explanations of a reward model: counterfactuals (CF) '
        "flip its preference, semifactuals (SF) do not.</p>",
        "<h2>Summary</h2>",
        html_table(_summary_rows(table, summary)),
    ]


def _sensitivity_section(sens: pd.DataFrame, valid_only: bool = False) -> list[str]:
    """The chart's placeholder (filled by the embedded Vega-Lite spec) and the same numbers
    as a table, for readers without JavaScript; with ``valid_only`` a note saying the
    figures count only the rewrites the judge found valid."""
    only = (
        [
            '<p class="note">Computed on valid rewrites only: the successful rewrites the '
            "rewrite judge did not find valid (invalid, undecided or not judged) are left out "
            "of every figure below (n, PFR, intervals, margin change, length control, null "
            "test); failed still counts the failed rewrites (beside n, the valid ones: "
            "failed / (valid + failed)). The Rewrite validity section counts every "
            "rewrite.</p>"
        ]
        if valid_only
        else []
    )
    return [
        "<h2>Sensitivity</h2>",
        *only,
        '<p class="meta">Preference flip rate (PFR) per attribute with 95% confidence '
        "intervals (bootstrap over comparisons, floored by Wilson); &quot;worse&quot; "
        "rewrites the chosen response, "
        "&quot;better&quot; the rejected one; the black tick is the pooled PFR, a grey tick "
        "the null perturber's PFR (when a null was run); light bars have too few rewrites "
        "to read. "
        "The table under the chart is the per-attribute summary the Explorer shows, one row per "
        "attribute and direction (every column is defined under it), then "
        "mean_margin_change, the mean change of the reward margin in units of the RM's "
        "reward spread (the standard deviation of its rewards of the original responses; "
        "−1: the margin fell by one such spread), and n_comparisons, the comparisons the "
        "row's rewrites come from.</p>",
        f'<div id="{CHART_ID}"></div>',
        '<noscript><p class="note">The chart needs JavaScript; the table below holds the '
        "same numbers.</p></noscript>",
        summary_table_html(sens, extra=("mean_margin_change", "n_comparisons")),
        readability_caption(sens),
    ]


def _quality_section(table: pd.DataFrame) -> list[str]:
    return [
        "<h2>Quality of the explanations</h2>",
        '<p class="meta">Coverage: fraction of the explained comparisons (n_comparisons, '
        "the same for every scope) with at least one CF (SF) on the chosen side, the rejected "
        "side, either side, or on each side (both); a failed rewrite counts as not found, and "
        "failed_rate (n_failed of n_rewrites) says how much of what is missing the perturber "
        "failed to rewrite. Distances to the original: small is good for a CF, large for an "
        "SF.</p>",
        html_table(quality_summary(table)),
    ]


def _failures_section(table: pd.DataFrame) -> list[str]:
    """How often each failure reason occurred (nothing when no rewrite failed)."""
    failed = table[table["outcome"] == "failed"]
    if failed.empty or "failure_reason" not in table.columns:
        return []
    reasons = (
        failed["failure_reason"]
        .fillna("unknown")
        .astype(str)
        .value_counts()
        .rename_axis("failure_reason")
        .reset_index(name="count")
    )
    return ["<h2>Failed perturbations</h2>", html_table(reasons)]


_FAILING_COLUMNS = [
    "comparison_id",
    "side",
    "direction",
    "margin_before",
    "margin_after",
    "severity",
    "original",
    "perturbed",
]


def _expectations_section(table: pd.DataFrame, expectations: Sequence[Any] | None) -> list[str]:
    """Declared expectations' pass rates and each one's most severe failures (nothing when
    none were declared); every cell escaped by ``html_table``."""
    if not expectations:
        return []
    from rmx_widgets.core.expectations import as_expectations, check_expectations, failing

    exps = as_expectations(expectations)
    sections = [
        "<h2>Declared expectations</h2>",
        '<p class="meta">Per rewrite: &quot;prefers A&quot; passes when the margin moved the '
        "way the rewrite's direction points (margin_after − margin_before &lt; 0), fails when "
        "it moved the other way; &quot;invariant to A&quot; fails on a flip (CF). Ties and "
        "failed rewrites are excluded (n_excluded); pass_rate has a 95% Wilson interval.</p>",
        html_table(check_expectations(table, exps)),
    ]
    for e in exps:
        rows = failing(table, e)
        if rows.empty:
            continue
        cols = [c for c in _FAILING_COLUMNS if c in rows.columns]
        shown = rows[cols].head(5).copy()
        for c in ("original", "perturbed"):
            if c in shown:
                shown[c] = shown[c].map(lambda v: v if not isinstance(v, str) else v[:300])
        sections.append(f"<h3>Failing: {escape(e.label)} ({len(rows)}, most severe first)</h3>")
        sections.append(html_table(shown))
    return sections


def _examples_section(
    table: pd.DataFrame,
    sens: pd.DataFrame,
    k: int,
    order: list[str],
    example_rows: Callable[[list], pd.DataFrame] | None,
) -> list[str]:
    """The k representative comparisons with their CFs and SFs beside the originals, or, when
    no representative can be computed, the comparisons with the most counterfactuals."""
    reps = representatives(table, k=k, sens=sens) if len(table) else pd.DataFrame()
    sections = ["<h2>Representative examples</h2>"]
    if len(reps):
        sections.append(
            '<p class="meta">Comparisons whose own attribute ranking agrees best '
            "with the global ranking (Kendall's τ).</p>"
        )
        chosen_ids = list(reps["comparison_id"])
        captions = {
            r.comparison_id: f"Kendall's τ with the global ranking = {r.tau:.3f} "
            f"(p = {r.p:.3g}) over {r.n_attributes} attributes"
            for r in reps.itertuples()
        }
    else:
        chosen_ids = _fallback_examples(table, k) if len(table) else []
        captions = dict.fromkeys(chosen_ids, "shown for its counterfactuals")
        sections.append(
            '<p class="note">No comparison has three or more ranked attributes, so '
            "no representative could be computed; showing the comparisons with the "
            "most counterfactuals instead.</p>"
            if chosen_ids
            else '<p class="note">No examples.</p>'
        )
    shown = table if example_rows is None else example_rows(list(chosen_ids))
    for cid in chosen_ids:
        rows = shown[shown["comparison_id"] == cid]
        sections.append(example_html(rows, cid, captions[cid], order))
    return sections


def write_report(
    table: pd.DataFrame,
    path: str | Path,
    *,
    title: str = "rmx-widgets report",
    sens: pd.DataFrame | None = None,
    k: int = 5,
    summary: dict | None = None,
    example_rows: Callable[[list], pd.DataFrame] | None = None,
    expectations: Sequence[Any] | None = None,
) -> Path:
    """Write a standalone offline HTML report and return its path.

    Contents: summary numbers (plus any ``summary`` items the caller adds, e.g. the data set
    name), the sensitivity chart and table, coverage and distances, failure reasons, and k
    representative comparisons with their CFs and SFs beside the originals. ``sens`` reuses a
    computed :func:`sensitivity` table (otherwise one is computed with 1000 bootstrap draws).
    ``example_rows(ids)`` supplies the full rows of the shown comparisons when ``table`` was
    kept without its texts (streamed runs read them back from the Parquet file).
    ``expectations`` (``Expectation``s or compact strings) adds their section.
    """
    html_text = report_html(
        table,
        title=title,
        sens=sens,
        k=k,
        summary=summary,
        example_rows=example_rows,
        expectations=expectations,
    )
    return write_page(html_text, path, "the report")

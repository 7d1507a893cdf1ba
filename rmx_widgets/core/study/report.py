"""A standalone, offline HTML report of a study (:func:`rmx_widgets.core.study.run.evaluate`).

It is laid out like the paper's evaluation: what was run (data sets, reward models, perturbers
and which of them are attribute-blind baselines, seeds, attributes, what was skipped and why),
then per data set the paper's Table 1 (coverage of CFs and SFs, Chosen / Rejected / Both) and
Table 2 (distances and diversity) first, the quality table (coverage, distances and diversity
of CFs and SFs, one table per side), the PFR chart of every RM, Kendall's τ between the RMs'
rankings, and the representative and contrasting examples with their rewrites.

The report is built from :mod:`rmx_widgets.core.html`'s pieces and under its safety rules: the
Vega libraries are inlined (the file opens offline), every piece of text that came from a
model, a data set *or a user* (RM, perturber and data-set names are user input too) is
escaped, chart specs travel as safe JSON, and element ids are built from counters, never from
names.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

from rmx_widgets.core.charts import sensitivity_chart
from rmx_widgets.core.html import (
    ChartSet,
    example_html,
    fmt,
    html_table,
    readability_caption,
    standalone_page,
    summary_table_html,
    write_page,
)
from rmx_widgets.core.readability import TOO_FEW, face_rows
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS, attribute_order
from rmx_widgets.core.study.result import StudyResult
from rmx_widgets.core.validity_rates import row_valid_text

SIDES = ("chosen", "rejected", "both", "either")
SIDE_NOTES = {
    "chosen": "the chosen (RM-preferred) response made worse",
    "rejected": "the rejected response made better",
    "both": "a CF (SF) on each side of the same comparison",
    "either": "a CF (SF) on at least one side",
}
SPECS_ID = "rmx-study-specs"
CHART_PREFIX = "rmx-study-chart-"

_STUDY_CSS = """
nav.toc a { margin-right: 1rem; }
section.dataset { border-top: 2px solid #ccc; margin-top: 2rem; }
.chart { margin: 0.5rem 0 1rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
.contrast { border-left: 4px solid #7570b3; padding-left: 0.8rem; margin: 1.5rem 0; }
"""


def _na(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _config_html(result: StudyResult) -> str:
    cfg = result.config
    baselines = set(cfg.get("baselines", []))
    primary = cfg.get("primary")
    datasets = pd.DataFrame(
        [(name, n) for name, n in cfg.get("datasets", {}).items()],
        columns=["data set", "comparisons"],
    )
    rms = pd.DataFrame(list(cfg.get("rms", {}).items()), columns=["reward model", "identity"])
    perts = []
    for name, identity in cfg.get("perturbers", {}).items():
        role = "baseline (attribute-blind)" if name in baselines else "attribute perturber"
        if name == primary:
            role += "; primary (drives RM vs RM)"
        if name == cfg.get("null"):
            role += "; the null the RM-vs-RM PFRs are tested against"
        status = f"skipped: {result.skipped[name]}" if name in result.skipped else "ran"
        perts.append((name, identity, role, status))
    perts_df = pd.DataFrame(perts, columns=["perturber", "identity", "role", "status"])
    seeds = cfg.get("seeds", [])
    settings = pd.DataFrame(
        [
            (
                "seeds × comparisons per seed",
                (f"{len(seeds)} × {cfg.get('per_seed')} (seeds {', '.join(map(str, seeds))})"),
            ),
            (
                "sampling",
                "; ".join(f"{d}: {m}" for d, m in cfg.get("sampling", {}).items()) or "–",
            ),
            ("attributes", ", ".join(map(str, cfg.get("attributes", [])))),
            ("primary perturber", primary if primary is not None else "none (all skipped)"),
            (
                "null test (RM vs RM)",
                f"against {cfg['null']}, Holm over attribute × direction, α = 0.05"
                if cfg.get("null")
                else "no attribute-blind baseline ran: no null test",
            ),
            ("examples per RM / pair (k)", cfg.get("k")),
            ("bootstrap draws", cfg.get("n_boot")),
            ("embedder", cfg.get("embedder")),
            ("preset", _preset_text(cfg.get("preset"))),
            ("rewrite judge", _judge_text(cfg)),
        ],
        columns=["setting", "value"],
        dtype=object,
    )
    parts = [
        '<h2 id="config">Configuration</h2>',
        html_table(datasets),
        html_table(rms),
        html_table(perts_df),
        html_table(settings),
    ]
    if result.skipped:
        skipped = pd.DataFrame(list(result.skipped.items()), columns=["perturber", "reason"])
        parts += ["<h3>Skipped perturbers</h3>", html_table(skipped, cls="skipped")]
    return "\n".join(parts)


def _judge_text(cfg: dict[str, Any]) -> str:
    """The study's rewrite judge, what it judged and whether the figures are valid-only."""
    judge = cfg.get("judge")
    if not judge:
        return "none (valid-rewrite rates not measured)"
    judged = ", ".join(map(str, cfg.get("judged", []))) or "no perturber"
    only = (
        "valid only: coverage, distances, diversity, sensitivity, τ and examples count only "
        "the rewrites judged valid"
        if cfg.get("valid_only")
        else "all rewrites count (not valid-only)"
    )
    return f"{judge}, judging {judged} (baselines are not judged); {only}"


def _preset_text(preset: Any) -> str:
    """The preset a study ran (``config["preset"]``) and what the user overrode, in words."""
    if not isinstance(preset, dict) or not preset:
        return "none"
    overrides = preset.get("overrides") or {}
    text = f"{preset.get('name')} ({preset.get('seeds')} × {preset.get('per_seed')} per data set"
    if overrides:
        text += "; overridden: " + ", ".join(f"{k}={v}" for k, v in overrides.items())
    return text + ")"


def _paper_tables_html(result: StudyResult, dataset: str) -> str:
    """The paper's Table 1 and Table 2 of one data set, each under a caption saying what a cell
    is (``StudyResult.paper_table_caption``), escaped like every other table."""
    parts = []
    for number, title in ((1, "coverage"), (2, "distances and diversity")):
        table = result.paper_table(number, dataset, formatted=True)
        parts.append(f"<h3>Table {number}: {title}</h3>")
        parts.append(
            f'<p class="meta caption">{escape(result.paper_table_caption(number, dataset))}</p>'
        )
        parts.append(
            html_table(table, cls=f"paper-table{number}")
            if len(table)
            else '<p class="note">No explanations on this data set.</p>'
        )
    return "\n".join(parts)


def _quality_html(result: StudyResult, dataset: str) -> str:
    parts = [
        "<h3>Quality of the explanations</h3>",
        (
            '<p class="meta">Coverage: fraction of comparisons with at least one CF (SF); '
            "syntactic and semantic distance to the original (small is good for a CF, large "
            "for an SF); diversity: mean pairwise distance among one comparison's CFs (SFs). "
            f"Each cell is the {escape(result.se_note(dataset))}.</p>"
        ),
    ]
    if result.valid_only:
        parts.append(
            '<p class="meta">Valid only: a CF (SF) of a judged perturber counts as found only '
            "when the judge found its rewrite valid; the baselines are not judged and "
            "unchanged.</p>"
        )
    for side in SIDES:
        table = result.main_table(dataset, side)
        parts.append(f'<h4>Side: {escape(side)}</h4><p class="meta">{escape(SIDE_NOTES[side])}</p>')
        parts.append(
            html_table(table, cls=f"quality side-{side}")
            if len(table)
            else '<p class="note">No explanations on this side.</p>'
        )
    return "\n".join(parts)


def _sens_rows(result: StudyResult, dataset: str) -> pd.DataFrame:
    s = result.sensitivity
    return s[s["dataset"] == dataset]


def _pfr_cells(rows: pd.DataFrame) -> pd.Series:
    """Pooled PFR [95% CI] per attribute with its reading (core.readability): "not measured"
    for no successful rewrite, never 0; "(too few, n=…)" below the minimum n."""
    face = face_rows(rows, digits=3)
    cells = [
        f"{r.pfr_text} ({TOO_FEW}, n={r.n})" if r.reading == TOO_FEW else r.pfr_text
        for r in face.itertuples()
    ]
    return pd.Series(cells, index=face["attribute"].to_numpy())


def _sensitivity_html(result: StudyResult, dataset: str, charts: ChartSet) -> str:
    sens = _sens_rows(result, dataset)
    parts = ["<h3>Global sensitivity: preference flip rate (PFR)</h3>"]
    if sens.empty:
        return parts[0] + '<p class="note">No sensitivity: no attribute perturber ran.</p>'
    n_agree = int(sens["n_agree"].iloc[0])
    parts.append(
        f'<p class="meta">PFR per attribute with bootstrap confidence intervals, on '
        f"the {n_agree} comparisons on which all reward models agree on the original "
        "preference; &quot;worse&quot; rewrites the chosen response, &quot;better"
        "&quot; the rejected one, the black tick is the pooled PFR; beside each chart, "
        "the per-attribute summary of its pooled rows (n, failed, CF, SF, PFR, null PFR, "
        "excess, Holm p, significance, length-controlled PFR; defined under the charts).</p>"
    )
    for pert, by_pert in sens.groupby("perturber", sort=False):
        blocks, pooled = [], {}
        for rm in [r for r in result.rms if r in set(by_pert["rm"])]:
            # every column: the null-run ones, when the study made them, reach the faces
            rows = by_pert[by_pert["rm"] == rm].reset_index(drop=True)
            chart = sensitivity_chart(rows, title=f"{rm} — {pert}")
            detail = summary_table_html(rows, directions=("both",), cls="pfr-detail")
            blocks.append(f"<div><h4>{escape(str(rm))}</h4>{charts.add(chart)}{detail}</div>")
            pooled[str(rm)] = _pfr_cells(rows)
        parts.append(f"<h4>Perturber: {escape(str(pert))}</h4>")
        parts.append(f'<div class="charts">{"".join(blocks)}</div>')
        table = pd.DataFrame(pooled)
        table = table.reindex(
            [a for a in result.config.get("attributes", []) if a in table.index]
            + [a for a in table.index if a not in result.config.get("attributes", [])]
        )
        parts.append(readability_caption(by_pert))
        parts.append('<p class="meta">Pooled PFR [95% CI] per attribute and reward model.</p>')
        parts.append(
            html_table(table.rename_axis("attribute").reset_index().fillna("–"), cls="pfr")
        )
        if result.config.get("judge"):
            parts.append(_valid_rates_html(result, by_pert, list(table.index)))
    return "\n".join(parts)


def _valid_rates_html(result: StudyResult, by_pert: pd.DataFrame, attributes: list) -> str:
    """Per attribute and RM, the valid rewrites among the judged ones (pooled directions),
    beside the failed rate of the table above; "not measured" where nothing was judged."""
    cells = {}
    for rm in [r for r in result.rms if r in set(by_pert["rm"])]:
        rows = by_pert[(by_pert["rm"] == rm) & (by_pert["direction"] == "both")]
        cells[str(rm)] = pd.Series(
            [row_valid_text(r) for r in rows.to_dict("records")],
            index=rows["attribute"].to_numpy(),
        )
    table = pd.DataFrame(cells).reindex(attributes)
    only = (
        " The PFRs above count only the valid rewrites (n = valid rewrites)."
        if result.config.get("valid_only")
        else ""
    )
    return (
        '<p class="meta">Valid rewrites (of those the judge '
        f"{escape(str(result.config.get('judge')))} "
        "judged, both directions pooled) per attribute and reward model, on the same "
        f"comparisons.{only}</p>"
        + html_table(table.rename_axis("attribute").reset_index().fillna("–"), cls="valid-rates")
    )


def _tau_chart(result: StudyResult, dataset: str) -> alt.LayerChart:
    rows = result.tau[result.tau["dataset"] == dataset][["rm_a", "rm_b", "tau", "p_value"]]
    rows = rows.astype({"rm_a": str, "rm_b": str})
    order = [str(r) for r in result.rms]
    base = alt.Chart(rows).encode(
        x=alt.X("rm_b:N", sort=order, title=None), y=alt.Y("rm_a:N", sort=order, title=None)
    )
    rect = base.mark_rect().encode(
        color=alt.Color(
            "tau:Q", title="Kendall's τ", scale=alt.Scale(domain=[-1, 1], scheme="redblue")
        ),
        tooltip=[
            alt.Tooltip("rm_a:N"),
            alt.Tooltip("rm_b:N"),
            alt.Tooltip("tau:Q", format=".3f"),
            alt.Tooltip("p_value:Q", format=".3g"),
        ],
    )
    # white figures on the dark ends of the scale, black in the pale middle
    text = base.mark_text().encode(
        text=alt.Text("tau:Q", format=".2f"),
        color=alt.condition("abs(datum.tau) > 0.5", alt.value("white"), alt.value("black")),
    )
    side = max(120, 60 * len(order))
    return alt.layer(rect, text).properties(
        width=side, height=side, title="Kendall's τ between attribute rankings"
    )


def _tau_html(result: StudyResult, dataset: str, charts: ChartSet) -> str:
    parts = ["<h3>RM vs RM: Kendall's τ between attribute rankings</h3>"]
    rows = result.tau[result.tau["dataset"] == dataset]
    if rows.empty:
        return parts[0] + '<p class="note">No τ: no ranking was computed on this data set.</p>'
    n_agree = int(rows["n_agree"].iloc[0])
    parts.append(
        f'<p class="meta">Rankings by pooled PFR (primary perturber), over the '
        f"{n_agree} comparisons all reward models agree on.</p>"
    )
    for values, label in (("tau", "τ"), ("p_value", "p-value")):
        matrix = result.tau_matrix(dataset, values=values)
        matrix = matrix.rename_axis(None, axis=1).rename_axis(label).reset_index()
        parts.append(html_table(matrix, cls=f"tau-matrix {values}"))
    parts.append(charts.add(_tau_chart(result, dataset)))
    return "\n".join(parts)


def _order(result: StudyResult, dataset: str, rm: str) -> list[str]:
    sens = _sens_rows(result, dataset)
    rows = sens[(sens["rm"] == rm) & (sens["perturber"] == result.primary)]
    return attribute_order(rows[SENSITIVITY_COLUMNS]) if len(rows) else []


def _rows(result: StudyResult, dataset: str, rm: str, cid: Any) -> pd.DataFrame:
    table = result.primary_table(dataset, rm)
    if table is None:
        return pd.DataFrame()
    return table[table["comparison_id"] == cid]


def _examples_html(result: StudyResult, dataset: str) -> str:
    return "\n".join([*_representatives_html(result, dataset), *_contrasting_html(result, dataset)])


def _representatives_html(result: StudyResult, dataset: str) -> list[str]:
    """Per RM, its representative comparisons with their CFs and SFs."""
    parts = [
        "<h3>Representative examples</h3>",
        (
            '<p class="meta">Per reward model, the comparisons whose own attribute ranking '
            "agrees best with the RM's global ranking (Kendall's τ), with their CFs and "
            "SFs.</p>"
        ),
    ]
    reps = result.representatives[result.representatives["dataset"] == dataset]
    if reps.empty:
        parts.append(
            '<p class="note">No representative examples (too few ranked '
            "attributes per comparison).</p>"
        )
    for rm, group in reps.groupby("rm", sort=False):
        parts.append(f"<h4>{escape(str(rm))}</h4>")
        order = _order(result, dataset, rm)
        for r in group.sort_values("rank").itertuples():
            rows = _rows(result, dataset, rm, r.comparison_id)
            if rows.empty:
                continue
            caption = (
                f"#{r.rank} for {rm}: Kendall's τ with its global ranking = "
                f"{fmt(r.tau)} (p = {fmt(r.p)}) over {r.n_attributes} attributes"
            )
            parts.append(example_html(rows, r.comparison_id, caption, order))
    return parts


def _contrasting_html(result: StudyResult, dataset: str) -> list[str]:
    """Per pair of RMs, the comparisons they rank most differently, explained for each."""
    parts = [
        "<h3>Contrasting examples</h3>",
        (
            '<p class="meta">Per pair of reward models, comparisons on which both agree on '
            "the original preference but rank the attributes most differently; each is "
            "shown as explained for either model.</p>"
        ),
    ]
    cons = result.contrasting[result.contrasting["dataset"] == dataset]
    if cons.empty:
        parts.append(
            '<p class="note">No contrasting examples (one reward model, or no '
            "comparison all of them agree on).</p>"
        )
    for (a, b), group in cons.groupby(["rm_a", "rm_b"], sort=False):
        parts.append(f"<h4>{escape(str(a))} vs {escape(str(b))}</h4>")
        for r in group.sort_values("rank").itertuples():
            blocks = []
            for rm in (a, b):
                rows = _rows(result, dataset, rm, r.comparison_id)
                if not rows.empty:
                    blocks.append(
                        example_html(
                            rows,
                            r.comparison_id,
                            f"explained for {rm}",
                            _order(result, dataset, rm),
                        )
                    )
            parts.append(
                f'<div class="contrast"><p><b>#{r.rank}</b>: Kendall\'s τ between '
                f"the two local rankings = {fmt(r.tau)} (p = {fmt(r.p)}) over "
                f"{r.n_attributes} attributes</p>{''.join(blocks)}</div>"
            )
    return parts


def study_report_html(result: StudyResult, *, title: str = "rmx-widgets study") -> str:
    """The study report as one HTML string (see :func:`write_study_report`)."""
    charts = ChartSet(CHART_PREFIX)
    datasets = result.datasets
    toc = " ".join(f'<a href="#dataset-{i}">{escape(str(d))}</a>' for i, d in enumerate(datasets))
    sections = [
        f"<h1>{escape(title)}</h1>",
        (
            '<p class="meta">Contrastive explanations of reward models, evaluated as in '
            "&quot;Interpreting Language Reward Models via Contrastive Explanations&quot;: "
            "counterfactuals (CF) flip an RM's preference, semifactuals (SF) do not.</p>"
        ),
        f'<nav class="toc"><a href="#config">Configuration</a> {toc}</nav>',
        _config_html(result),
    ]
    for i, dataset in enumerate(datasets):
        n = result.config["datasets"].get(dataset, "?")
        sections.append(
            f'<section class="dataset" id="dataset-{i}">'
            f"<h2>Data set: {escape(str(dataset))}</h2>"
            f'<p class="meta">{fmt(n)} comparisons.</p>'
        )
        sections.append(_paper_tables_html(result, dataset))
        sections.append(_quality_html(result, dataset))
        sections.append(_sensitivity_html(result, dataset, charts))
        sections.append(_tau_html(result, dataset, charts))
        sections.append(_examples_html(result, dataset))
        sections.append("</section>")

    return standalone_page(
        title,
        sections,
        css=_STUDY_CSS,
        data_id=SPECS_ID,
        data=charts.specs,
        embed_js=ChartSet.embed_js(SPECS_ID),
    )


def write_study_report(
    result: StudyResult, path: str | Path, *, title: str = "rmx-widgets study"
) -> Path:
    """Write the study's standalone offline HTML report and return its path.

    One file for the whole study, so it can be mailed or archived beside the CSVs that
    :meth:`StudyResult.save` writes; a path that cannot be written raises
    :class:`~rmx_widgets.core.errors.RMXError`.
    """
    return write_page(study_report_html(result, title=title), path, "the study report")

"""A standalone, offline HTML report of one explanation run.

One file that opens anywhere, with no network: the Vega, Vega-Lite and Vega-Embed libraries
are inlined from vl-convert-python's bundle instead of loaded from a CDN, because reports get
mailed around, archived and opened on air-gapped machines.

Everything that came from a model or a data set (prompts, responses, perturbations, failure
reasons, even attribute and model names) is untrusted and goes through :func:`html.escape`;
nothing is ever inserted into markup raw. The chart spec is embedded as JSON in a
``<script type="application/json">`` block with ``<``, ``>`` and ``&`` written as ``\\u003c``
etc., so no text in it can close the script element or open an HTML comment.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from rmx_widgets.core.charts import sensitivity_chart
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.metrics import quality_summary, require_columns
from rmx_widgets.core.representatives import representatives
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS, attribute_order, sensitivity

_REPORT_COLUMNS = ["comparison_id", "prompt", "side", "attribute", "direction", "original",
                   "perturbed", "reward_original", "reward_perturbed", "reward_other",
                   "margin_before", "margin_after", "outcome"]
_TEXT_COLUMNS = ("prompt", "original", "perturbed")
_DIFF_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
CHART_ID = "rmx-sensitivity-chart"
SPEC_ID = "rmx-sensitivity-spec"

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.6rem; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.text { white-space: pre-wrap; word-break: break-word; font-family: ui-monospace, monospace;
        font-size: 0.85rem; background: #fafafa; border: 1px solid #eee; padding: 0.4rem;
        max-height: 24rem; overflow: auto; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 0.8rem; }
.example { border: 1px solid #ccc; border-radius: 6px; padding: 0.8rem 1rem; margin: 1rem 0; }
.badge { display: inline-block; padding: 0 0.4rem; border-radius: 3px; font-size: 0.8rem;
         font-weight: 600; color: white; }
.badge.CF { background: #c0392b; } .badge.SF { background: #27ae60; }
.badge.failed { background: #7f8c8d; }
ins { background: #d4f7d4; text-decoration: none; } del { background: #f9d0d0; }
table.examples { width: 100%; table-layout: fixed; } table.examples td { width: 42%; }
table.examples td.attr { width: 16%; }
.note { color: #666; font-style: italic; }
"""


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega + Vega-Lite + Vega-Embed as one script, matching Altair's Vega-Lite version.

    Cached: building the bundle takes about a second and it never changes within a process.
    """
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover - vl-convert-python is a hard dependency
        raise RMXError("writing an offline report needs vl-convert-python; "
                       "install it with `pip install vl-convert-python`.") from exc
    version = "_".join(alt.SCHEMA_VERSION.split(".")[:2])
    try:
        bundle = vl_convert.javascript_bundle(vl_version=version)
    except ValueError:
        bundle = vl_convert.javascript_bundle()
    # A literal "</script" can only occur inside a JS string or regex, where "<\/" is equivalent.
    return re.sub(r"</(script)", r"<\\/\1", bundle, flags=re.IGNORECASE)


def script_json(obj: object) -> str:
    """JSON that is safe inside a <script> element: '<', '>', '&' and the JS line separators
    are written as \\u escapes, which is still valid JSON and the same data."""
    text = json.dumps(obj, ensure_ascii=False, default=_json_default)
    for char, repl in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, repl)
    return text


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _fmt(value: object, digits: int = 3) -> str:
    """A cell value as escaped text: floats rounded, NaN/None as an en dash."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return escape(str(bool(value)))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    if isinstance(value, (list, tuple, set)):
        return escape(", ".join(map(str, value)))
    return escape(str(value))


def _html_table(df: pd.DataFrame, *, cls: str = "") -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in df.columns)
    body = []
    for values in df.itertuples(index=False, name=None):
        cells = []
        for v in values:
            numeric = isinstance(v, (int, float, np.integer, np.floating)) and \
                not isinstance(v, (bool, np.bool_))
            cells.append(f'<td class="num">{_fmt(v)}</td>' if numeric else f"<td>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls_attr = f' class="{escape(cls)}"' if cls else ""
    return f"<table{cls_attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def diff_html(original: str, perturbed: str) -> str:
    """The perturbed text with word-level changes marked: <ins> for new text, <del> for removed
    text. Every piece of text is escaped before it is wrapped in a tag."""
    a, b = _DIFF_TOKEN.findall(original), _DIFF_TOKEN.findall(perturbed)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(b[j1:j2])))
            continue
        if i2 > i1:
            out.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if j2 > j1:
            out.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return "".join(out)


def _badge(outcome: object) -> str:
    outcome = str(outcome)
    cls = outcome if outcome in ("CF", "SF", "failed") else "failed"
    return f'<span class="badge {cls}">{escape(outcome)}</span>'


def _perturbation_cell(row: pd.Series) -> str:
    outcome = row["outcome"]
    head = (f"{_badge(outcome)} margin {_fmt(row['margin_before'])} → "
            f"{_fmt(row['margin_after'])}")
    if outcome == "failed" or row["perturbed"] is None or \
            (isinstance(row["perturbed"], float) and math.isnan(row["perturbed"])):
        reason = row.get("failure_reason")
        reason = "unknown reason" if reason is None or (isinstance(reason, float)
                                                        and math.isnan(reason)) else reason
        return f'{head}<div class="note">perturbation failed: {escape(str(reason))}</div>'
    body = diff_html(str(row["original"]), str(row["perturbed"]))
    return f'{head}<div class="text">{body}</div>'


def _example_html(rows: pd.DataFrame, cid: object, caption: str, order: list[str]) -> str:
    first = rows.iloc[0]
    chosen = rows[rows["side"] == "chosen"]
    rejected = rows[rows["side"] == "rejected"]

    def original(side_rows: pd.DataFrame, label: str) -> str:
        if side_rows.empty:
            return f"<div><h4>{label}</h4><div class=\"note\">no perturbation of it</div></div>"
        r = side_rows.iloc[0]
        return (f"<div><h4>{label}, reward {_fmt(r['reward_original'])}</h4>"
                f"<div class=\"text\">{escape(str(r['original']))}</div></div>")

    rank = {a: i for i, a in enumerate(order)}
    attrs = sorted(pd.unique(rows["attribute"]), key=lambda a: (rank.get(a, len(rank)), str(a)))
    lines = []
    for attr in attrs:
        worse = chosen[chosen["attribute"] == attr]
        better = rejected[rejected["attribute"] == attr]
        w = "".join(_perturbation_cell(r) for _, r in worse.iterrows()) or \
            '<span class="note">not perturbed</span>'
        b = "".join(_perturbation_cell(r) for _, r in better.iterrows()) or \
            '<span class="note">not perturbed</span>'
        lines.append(f'<tr><td class="attr">{escape(str(attr))}</td><td>{w}</td><td>{b}</td></tr>')
    return (
        f'<div class="example"><h3>Comparison {escape(str(cid))}</h3>'
        f'<p class="meta">{escape(caption)}</p>'
        f'<h4>Prompt</h4><div class="text">{escape(str(first["prompt"]))}</div>'
        f'<div class="pair">{original(chosen, "Chosen response (RM-preferred)")}'
        f'{original(rejected, "Rejected response")}</div>'
        f'<h4>Perturbations (changes marked against the original)</h4>'
        f'<table class="examples"><thead><tr><th class="attr">attribute</th>'
        f'<th>chosen made worse</th><th>rejected made better</th></tr></thead>'
        f'<tbody>{"".join(lines)}</tbody></table></div>'
    )


def _summary_rows(table: pd.DataFrame, extra: Mapping[str, object] | None) -> pd.DataFrame:
    outcomes = table["outcome"].value_counts()
    n_cf, n_sf = int(outcomes.get("CF", 0)), int(outcomes.get("SF", 0))
    items: list[tuple[str, object]] = [
        ("reward model(s)", ", ".join(map(str, pd.unique(table["rm"].dropna())))
         if "rm" in table.columns else "–"),
        ("perturber(s)", ", ".join(map(str, pd.unique(table["perturber"].dropna())))
         if "perturber" in table.columns else "–"),
        ("comparisons", int(table["comparison_id"].nunique())),
        ("attributes", int(table["attribute"].nunique())),
        ("perturbations", len(table)),
        ("counterfactuals (CF)", n_cf),
        ("semifactuals (SF)", n_sf),
        ("failed perturbations", int(outcomes.get("failed", 0))),
        ("overall flip rate", n_cf / (n_cf + n_sf) if n_cf + n_sf else math.nan),
    ]
    for key, value in (extra or {}).items():
        items.append((str(key), value))
    return pd.DataFrame(items, columns=["quantity", "value"], dtype=object)


def _fallback_examples(table: pd.DataFrame, k: int) -> list:
    """Without representatives (too few attributes), show the comparisons with most CFs."""
    counts = (table.assign(_cf=table["outcome"] == "CF")
              .groupby("comparison_id", sort=False)["_cf"].sum())
    frame = counts.reset_index().rename(columns={"_cf": "cf"})
    frame["_id"] = frame["comparison_id"].astype(str)
    return list(frame.sort_values(["cf", "_id"], ascending=[False, True])
                .head(k)["comparison_id"])


def report_html(table: pd.DataFrame, *, title: str = "rmx-widgets report",
                sens: pd.DataFrame | None = None, k: int = 5,
                summary: Mapping[str, object] | None = None,
                example_rows: Callable[[list], pd.DataFrame] | None = None) -> str:
    """The report as one HTML string (see :func:`write_report`)."""
    needed = [c for c in _REPORT_COLUMNS if example_rows is None or c not in _TEXT_COLUMNS]
    require_columns(table, needed, "the report")
    if sens is None:
        sens = sensitivity(table)
    require_columns(sens, SENSITIVITY_COLUMNS, "the report's sensitivity table")
    order = attribute_order(sens)
    spec = sensitivity_chart(sens, title="Preference flip rate per attribute").to_dict()

    sections = [f"<h1>{escape(title)}</h1>",
                '<p class="meta">Contrastive explanations of a reward model: counterfactuals (CF) '
                "flip its preference, semifactuals (SF) do not.</p>",
                "<h2>Summary</h2>", _html_table(_summary_rows(table, summary))]

    sections += [
        "<h2>Sensitivity</h2>",
        '<p class="meta">Preference flip rate (PFR) per attribute with bootstrap confidence '
        "intervals over comparisons; &quot;worse&quot; rewrites the chosen response, "
        "&quot;better&quot; the rejected one; the black tick is the pooled PFR. "
        "mean_margin_change is the mean relative change of the reward margin "
        "(below −1: the average rewrite flips the preference).</p>",
        f'<div id="{CHART_ID}"></div>',
        "<noscript><p class=\"note\">The chart needs JavaScript; the table below holds the "
        "same numbers.</p></noscript>",
        _html_table(sens[SENSITIVITY_COLUMNS]),
    ]

    quality = quality_summary(table)
    sections += ["<h2>Quality of the explanations</h2>",
                 '<p class="meta">Coverage: fraction of comparisons with at least one CF (SF). '
                 "Distances to the original: small is good for a CF, large for an SF.</p>",
                 _html_table(quality)]

    failed = table[table["outcome"] == "failed"]
    if not failed.empty and "failure_reason" in table.columns:
        reasons = (failed["failure_reason"].fillna("unknown").astype(str).value_counts()
                   .rename_axis("failure_reason").reset_index(name="count"))
        sections += ["<h2>Failed perturbations</h2>", _html_table(reasons)]

    reps = representatives(table, k=k, sens=sens) if len(table) else pd.DataFrame()
    sections.append("<h2>Representative examples</h2>")
    if len(reps):
        sections.append('<p class="meta">Comparisons whose own attribute ranking agrees best '
                        "with the global ranking (Kendall's τ).</p>")
        chosen_ids = list(reps["comparison_id"])
        captions = {r.comparison_id: f"Kendall's τ with the global ranking = {r.tau:.3f} "
                                     f"(p = {r.p:.3g}) over {r.n_attributes} attributes"
                    for r in reps.itertuples()}
    else:
        chosen_ids = _fallback_examples(table, k) if len(table) else []
        captions = {cid: "shown for its counterfactuals" for cid in chosen_ids}
        sections.append('<p class="note">No comparison has three or more ranked attributes, so '
                        "no representative could be computed; showing the comparisons with the "
                        "most counterfactuals instead.</p>" if chosen_ids else
                        '<p class="note">No examples.</p>')
    shown = table if example_rows is None else example_rows(list(chosen_ids))
    for cid in chosen_ids:
        rows = shown[shown["comparison_id"] == cid]
        sections.append(_example_html(rows, cid, captions[cid], order))

    embed = (f'const spec = JSON.parse(document.getElementById("{SPEC_ID}").textContent);\n'
             f'vegaEmbed("#{CHART_ID}", spec, {{"mode": "vega-lite", "actions": false}})'
             ".catch(console.error);")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n"
        f'<script type="text/javascript">\n{vega_bundle()}\n</script>\n'
        "</head>\n<body>\n" + "\n".join(sections) +
        f'\n<script type="application/json" id="{SPEC_ID}">{script_json(spec)}</script>\n'
        f'<script type="text/javascript">\n{embed}\n</script>\n</body>\n</html>\n'
    )


def write_report(table: pd.DataFrame, path: str | Path, *, title: str = "rmx-widgets report",
                 sens: pd.DataFrame | None = None, k: int = 5,
                 summary: dict | None = None,
                 example_rows: Callable[[list], pd.DataFrame] | None = None) -> Path:
    """Write a standalone offline HTML report and return its path.

    Contents: summary numbers (plus any ``summary`` items the caller adds, e.g. the data set
    name), the sensitivity chart and table, coverage and distances, failure reasons, and k
    representative comparisons with their CFs and SFs beside the originals. ``sens`` reuses a
    computed :func:`sensitivity` table (otherwise one is computed with 1000 bootstrap draws).
    ``example_rows(ids)`` supplies the full rows of the shown comparisons when ``table`` was
    kept without its texts (streamed runs read them back from the Parquet file).
    """
    path = Path(path)
    html_text = report_html(table, title=title, sens=sens, k=k, summary=summary,
                            example_rows=example_rows)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html_text, encoding="utf-8")
    except OSError as exc:
        raise RMXError(f"cannot write the report to {path}: {exc}. Choose a writable path.") \
            from exc
    return path

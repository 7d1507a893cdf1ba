"""The HTML pieces every offline page of rmx-widgets is built from (reports, the study report,
widgets that show tables).

The pages open anywhere, with no network: the Vega, Vega-Lite and Vega-Embed libraries are
inlined from vl-convert-python's bundle instead of loaded from a CDN, because reports get
mailed around, archived and opened on air-gapped machines.

The safety rules live here, once, so that no page can forget them. Everything that came from a
model, a data set or a user (prompts, responses, perturbations, failure reasons, attribute,
model and data-set names) is untrusted and goes through :func:`html.escape`; nothing is ever
inserted into markup raw. Chart specs travel as JSON in a ``<script type="application/json">``
block with ``<``, ``>`` and ``&`` written as ``\\u003c`` etc. (:func:`script_json`), so no text in
them can close the script element or open an HTML comment. Element ids are built from
counters (:class:`ChartSet`), never from names.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd

from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.outputs import GENERATOR_MARK, write_text
from rmx_widgets.core.summary_table import summary_legend, summary_table, summary_text_columns

_DIFF_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")

#: the stylesheet of every standalone page; a page may append its own rules
BASE_CSS = """
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
tr.too-few td { color: #8a6d00; background: #fff8e1; }
tr.not-measured td { color: #888; background: #f4f4f4; font-style: italic; }
"""


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega + Vega-Lite + Vega-Embed as one script, matching Altair's Vega-Lite version.

    Cached: building the bundle takes about a second and it never changes within a process.
    """
    try:
        import vl_convert
    except ImportError as exc:  # pragma: no cover - vl-convert-python is a hard dependency
        raise RMXError(
            "writing an offline report needs vl-convert-python; "
            "install it with `pip install vl-convert-python`."
        ) from exc
    version = "_".join(alt.SCHEMA_VERSION.split(".")[:2])
    # vl-convert's stub marks ``snippet`` required; at run time it defaults to the snippet
    # that puts vegaEmbed on ``window``, which is the one the pages need
    try:
        bundle = vl_convert.javascript_bundle(vl_version=version)  # type: ignore[call-arg]
    except ValueError:
        bundle = vl_convert.javascript_bundle()  # type: ignore[call-arg]
    # A literal "</script" can only occur inside a JS string or regex, where "<\/" is equivalent.
    return re.sub(r"</(script)", r"<\\/\1", bundle, flags=re.IGNORECASE)


def script_json(obj: object) -> str:
    """JSON that is safe inside a <script> element: '<', '>', '&' and the JS line separators
    are written as \\u escapes, which is still valid JSON and the same data."""
    text = json.dumps(obj, ensure_ascii=False, default=_json_default)
    for char, repl in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, repl)
    return text


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def fmt(value: object, digits: int = 3) -> str:
    """A cell value as escaped text: floats rounded, NaN/None/<NA> as an en dash."""
    if (
        value is None
        or value is pd.NA
        or (isinstance(value, (float, np.floating)) and math.isnan(value))
    ):
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


def html_table(df: pd.DataFrame, *, cls: str = "") -> str:
    """A DataFrame as an HTML table: every header and cell escaped (:func:`fmt`), numbers
    right-aligned; ``cls`` is the table's class attribute (escaped too)."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in df.columns)
    body = []
    for values in df.itertuples(index=False, name=None):
        cells = []
        for v in values:
            numeric = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
                v, (bool, np.bool_)
            )
            cells.append(f'<td class="num">{fmt(v)}</td>' if numeric else f"<td>{fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls_attr = f' class="{escape(cls)}"' if cls else ""
    return f"<table{cls_attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_READING_CLASS = {"too few": "too-few", "not measured": "not-measured"}


def summary_table_html(
    sens: pd.DataFrame,
    *,
    directions: tuple[str, ...] | None = None,
    extra: Sequence[str] = (),
    cls: str = "sensitivity",
    max_text: int | None = None,
) -> str:
    """A sensitivity table as every face shows it: the per-attribute summary's cells
    (:func:`core.summary_table.summary_table`, headers from ``summary_text_columns``: n,
    failed, CF, SF, PFR [interval], null PFR, excess [interval], Holm p, significance,
    length-controlled PFR, and the valid cell when the table has verdicts), then the ``extra``
    columns of ``sens`` as numbers; too-few and not-measured rows are marked by class and
    text. The cells are the Explorer's, made in one place, so a report, a static view and the
    widget cannot disagree. Everything escaped; ``max_text`` cuts a longer cell (an untrusted
    attribute name) to that many characters, saying how many were left out."""
    rows = summary_table(sens, directions)
    kept = sens if directions is None else sens[sens["direction"].isin(directions)]
    columns = summary_text_columns(sens)
    show_direction = directions is None or len(directions) > 1
    head = ["attribute", *(["direction"] if show_direction else []), *columns.values()]
    head += list(extra)
    body = []
    for r, more in zip(rows.to_dict("records"), kept[list(extra)].itertuples(index=False)):
        cells = [r["attribute"], *([r["direction"]] if show_direction else [])]
        cells += [r[c] for c in columns]
        row_cls = _READING_CLASS.get(r["reading"])
        attr = f' class="{row_cls}"' if row_cls else ""
        tds = "".join(f"<td>{clip(c, max_text)}</td>" for c in cells)
        tds += "".join(f'<td class="num">{fmt(v)}</td>' for v in more)
        body.append(f"<tr{attr}>{tds}</tr>")
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    return (
        f'<table class="{escape(cls)}"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def clip(text: object, limit: int | None) -> str:
    """A text escaped, cut to ``limit`` characters (``None``: whole), saying how many were left
    out; ``None`` is the empty text."""
    s = "" if text is None else str(text)
    if limit is None or len(s) <= limit:
        return escape(s)
    return escape(s[:limit]) + f"… ({len(s) - limit:,} more characters)"


def readability_caption(sens: pd.DataFrame) -> str:
    """The definitions line under every summary table (``core.summary_table.summary_legend``:
    each column, min n, alpha and the Holm correction, the valid cell's key with verdicts),
    escaped."""
    return f'<p class="meta">{escape(summary_legend(sens))}</p>'


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


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _perturbation_cell(row: pd.Series) -> str:
    outcome = row["outcome"]
    head = f"{_badge(outcome)} margin {fmt(row['margin_before'])} → {fmt(row['margin_after'])}"
    if outcome == "failed" or _missing(row["perturbed"]):
        reason = row.get("failure_reason")
        reason = "unknown reason" if _missing(reason) else reason
        return f'{head}<div class="note">perturbation failed: {escape(str(reason))}</div>'
    body = diff_html(str(row["original"]), str(row["perturbed"]))
    return f'{head}<div class="text">{body}</div>'


def human_label_html(row: pd.Series) -> str:
    """The human label of a comparison, shown beside the RM's chosen response: "human
    preferred: A (the chosen response: the RM agrees)", "... B (the rejected response: the RM
    disagrees)" or "no human label"; empty for a table written before the column existed."""
    if "human_preferred" not in row.index:
        return ""
    human = row["human_preferred"]
    if human not in ("a", "b"):
        return '<p class="meta">no human label</p>'
    label = f"human preferred: {escape(str(human).upper())}"
    rm = row.get("preferred")
    if rm in ("a", "b"):
        label += (
            " (the chosen response: the RM agrees)"
            if rm == human
            else " (the rejected response: the RM disagrees)"
        )
    return f'<p class="meta">{label}</p>'


def example_html(rows: pd.DataFrame, cid: object, caption: str, order: Sequence[str]) -> str:
    """One comparison as a card: its prompt, both originals with their rewards, and every
    rewrite (chosen made worse, rejected made better) diffed against its original, one
    attribute per line in ``order`` (a global ranking; other attributes last, by name)."""
    first = rows.iloc[0]
    chosen = rows[rows["side"] == "chosen"]
    rejected = rows[rows["side"] == "rejected"]

    def original(side_rows: pd.DataFrame, label: str) -> str:
        if side_rows.empty:
            return f'<div><h4>{label}</h4><div class="note">no perturbation of it</div></div>'
        r = side_rows.iloc[0]
        return (
            f"<div><h4>{label}, reward {fmt(r['reward_original'])}</h4>"
            f'<div class="text">{escape(str(r["original"]))}</div></div>'
        )

    rank = {a: i for i, a in enumerate(order)}
    attrs = sorted(pd.unique(rows["attribute"]), key=lambda a: (rank.get(a, len(rank)), str(a)))
    lines = []
    for attr in attrs:
        worse = chosen[chosen["attribute"] == attr]
        better = rejected[rejected["attribute"] == attr]
        w = (
            "".join(_perturbation_cell(r) for _, r in worse.iterrows())
            or '<span class="note">not perturbed</span>'
        )
        b = (
            "".join(_perturbation_cell(r) for _, r in better.iterrows())
            or '<span class="note">not perturbed</span>'
        )
        lines.append(f'<tr><td class="attr">{escape(str(attr))}</td><td>{w}</td><td>{b}</td></tr>')
    return (
        f'<div class="example"><h3>Comparison {escape(str(cid))}</h3>'
        f'<p class="meta">{escape(caption)}</p>'
        f'<h4>Prompt</h4><div class="text">{escape(str(first["prompt"]))}</div>'
        f'<div class="pair">{original(chosen, "Chosen response (RM-preferred)")}'
        f"{original(rejected, 'Rejected response')}</div>{human_label_html(first)}"
        f"<h4>Perturbations (changes marked against the original)</h4>"
        f'<table class="examples"><thead><tr><th class="attr">attribute</th>'
        f"<th>chosen made worse</th><th>rejected made better</th></tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table></div>"
    )


class ChartSet:
    """Several charts on one page: each gets an element id made from ``prefix`` and a counter,
    and one JSON block (:meth:`embed_js` reads it) carries every spec, so no name ever reaches
    an id or a script."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.specs: dict[str, dict] = {}

    def add(self, chart: alt.TopLevelMixin) -> str:
        """The chart's placeholder element; the spec is kept for the page's JSON block."""
        chart_id = f"{self.prefix}{len(self.specs)}"
        self.specs[chart_id] = chart.to_dict()
        return (
            f'<div class="chart" id="{chart_id}"></div>'
            '<noscript><p class="note">The chart needs JavaScript; the table holds the '
            "same numbers.</p></noscript>"
        )

    @staticmethod
    def embed_js(specs_id: str) -> str:
        """The script that draws every chart of the JSON block ``specs_id`` (SVG, no menu)."""
        return (
            f'const specs = JSON.parse(document.getElementById("{specs_id}").textContent);\n'
            "for (const [id, spec] of Object.entries(specs)) {\n"
            '  vegaEmbed("#" + id, spec, {"mode": "vega-lite", "actions": false, '
            '"renderer": "svg"}).catch(console.error);\n}'
        )


def standalone_page(
    title: str, sections: Sequence[str], *, data_id: str, data: object, embed_js: str, css: str = ""
) -> str:
    """A whole offline page: the inlined Vega bundle, the ``sections`` (already escaped HTML),
    ``data`` as a safe JSON block with id ``data_id`` and the ``embed_js`` that draws it."""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{GENERATOR_MARK}\n"
        f"<title>{escape(title)}</title>\n<style>{BASE_CSS}{css}</style>\n"
        f'<script type="text/javascript">\n{vega_bundle()}\n</script>\n'
        "</head>\n<body>\n"
        + "\n".join(sections)
        + f'\n<script type="application/json" id="{data_id}">{script_json(data)}</script>\n'
        f'<script type="text/javascript">\n{embed_js}\n</script>\n</body>\n</html>\n'
    )


def write_page(text: str, path: str | Path, what: str) -> Path:
    """Write a page atomically (creating its folder) and return its path; an unwritable path raises
    :class:`RMXError` that names ``what`` was being written."""
    path = Path(path)
    try:
        write_text(path, text)  # atomic: a reader never sees half a page
    except OSError as exc:
        raise RMXError(f"cannot write {what} to {path}: {exc}. Choose a writable path.") from exc
    return path

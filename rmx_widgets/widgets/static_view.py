"""Static renderings of the widgets, sent beside the live widget view in every display.

Where no widget manager runs (a notebook exported with nbconvert, GitHub's notebook viewer),
a widget output would show nothing but its ``text/plain`` repr. Each widget's
``_repr_mimebundle_`` therefore adds a ``text/html`` rendering of what it shows (the
sensitivity table, the comparison on screen, the examples to annotate, a study's tables) and a
readable ``text/plain`` line. JupyterLab, Notebook 7 and VS Code still render the widget view:
their widget renderer outranks ``text/html``, and nbconvert picks the view only when the
notebook saved the widget state.

Every text from data or a model is escaped here (core.html); the HTML fragments composites
pass in come from our own ``ipywidgets.HTML`` values, built escaped. Sizes are bounded: at most
:data:`MAX_ROWS` rows per table, :data:`MAX_TEXT` characters per text cell, and
:data:`MAX_BYTES` characters in all, with a note saying what was left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import pandas as pd

from rmx_widgets.core import html as core_html
from rmx_widgets.core.html import fmt, readability_caption, summary_table_html
from rmx_widgets.widgets.contract import Annotation, Example, Row, ShownComparison

MAX_ROWS = 50
MAX_TEXT = 1_000
MAX_BYTES = 200_000
MAX_PLAIN = 500
HTML_MIME = "text/html"
PLAIN_MIME = "text/plain"
NOTE = "Static view (the live widget needs a running kernel)."


def clip(text: object, limit: int = MAX_TEXT) -> str:
    """A text cell cut to ``limit`` characters, escaped; a cut says how much was left out."""
    return core_html.clip(text, limit)


def more_rows(n_more: int) -> str:
    """The note under a table cut to :data:`MAX_ROWS` rows (empty when nothing was cut)."""
    return f'<p class="meta">… {n_more:,} more rows</p>' if n_more > 0 else ""


def page(parts: Sequence[str], title: str) -> str:
    """The fragments in order under a title, cut to :data:`MAX_BYTES` characters by whole
    fragments (a fragment is never cut inside, so the HTML stays well formed)."""
    head = f'<div class="rmx-static"><p><b>{escape(title)}</b> <i>{escape(NOTE)}</i></p>'
    kept, size = [head], len(head)
    for i, part in enumerate(parts):
        if size + len(part) > MAX_BYTES:
            left = len(parts) - i
            kept.append(f'<p class="meta">… {left} more section(s) left out (size limit)</p>')
            break
        kept.append(part)
        size += len(part)
    return "".join(kept) + "</div>"


def with_static(bundle: Mapping[str, Any] | None, html_text: str, plain: str) -> dict[str, Any]:
    """The widget's own bundle (its view MIME type, kept untouched) plus the static
    ``text/html`` and a ``text/plain`` line of at most :data:`MAX_PLAIN` characters."""
    data = dict(bundle or {})
    data[HTML_MIME] = html_text
    data[PLAIN_MIME] = plain if len(plain) <= MAX_PLAIN else plain[: MAX_PLAIN - 1] + "…"
    return data


def with_static_pair(
    bundle: tuple[dict, dict] | None, html_text: str, plain: str
) -> tuple[dict, dict]:
    """:func:`with_static` for anywidget, whose bundle is a (data, metadata) pair."""
    data, metadata = bundle if bundle is not None else ({}, {})
    return with_static(data, html_text, plain), metadata


def sensitivity_html(sens: pd.DataFrame | None, empty: str = "No results yet.") -> str:
    """The pooled rows of a sensitivity table as the Explorer's summary shows them
    (``core.summary_table``: n, failed, CF, SF, PFR [interval], null PFR, excess, Holm p,
    significance, length-controlled PFR), at most :data:`MAX_ROWS` rows of cells of at most
    :data:`MAX_TEXT` characters, with the definitions line under it."""
    if sens is None or not len(sens):
        return f"<p>{escape(empty)}</p>"
    pooled = sens[sens["direction"] == "both"]
    shown = pooled.head(MAX_ROWS)
    shown.attrs = dict(sens.attrs)  # alpha, valid_only: the caption states the table's own
    # the header and the caption both read the rows shown, so a valid cell and its key come
    # together
    return (
        summary_table_html(shown, directions=("both",), max_text=MAX_TEXT)
        + more_rows(len(pooled) - len(shown))
        + readability_caption(shown)
    )


def sensitivity_plain(sens: pd.DataFrame | None) -> str:
    """One line: how many attributes the table holds."""
    if sens is None or not len(sens):
        return "SensitivityChart: no results yet"
    n = int((sens["direction"] == "both").sum())
    return f"SensitivityChart: PFR of {n} attribute(s) (table in the static HTML view)"


def _num(value: object) -> str:
    return fmt(value, 3)


def comparison_html(
    shown: ShownComparison | None, rows: Sequence[Row], n_rows: int, empty: str
) -> str:
    """The comparison on screen: its prompt, both responses with their rewards, the RM's and
    the human's preference, and its rewrites on this page (at most :data:`MAX_ROWS`)."""
    if shown is None:
        return f"<p>{escape(empty)}</p>"
    turns = "".join(
        f"<p><b>{clip(t['role'], 40)}:</b> {clip(t['content'])}</p>" for t in shown["prompt_turns"]
    )
    human = shown["human_preferred"]
    head = (
        f"<p>Comparison {shown['index'] + 1} of {shown['total']}: <code>{clip(shown['id'], 200)}"
        f"</code> · RM prefers {escape(str(shown['preferred'] or 'neither (tie)'))} · "
        f"human label {escape(str(human)) if human else 'none'} · margin "
        f"{_num(shown['margin'])}</p>{turns}"
        f"<p><b>Response A</b> (reward {_num(shown['reward_a'])}): {clip(shown['response_a'])}</p>"
        f"<p><b>Response B</b> (reward {_num(shown['reward_b'])}): {clip(shown['response_b'])}</p>"
    )
    cut = list(rows)[:MAX_ROWS]
    if not cut:
        return head + f"<p>{escape(empty)}</p>"
    header = (
        "side",
        "attribute",
        "direction",
        "rewrite",
        "reward",
        "margin before",
        "margin after",
        "outcome",
    )
    body = "".join(
        "<tr>"
        f"<td>{clip(r['side'], 40)}</td><td>{clip(r['attribute'], 200)}</td>"
        f"<td>{clip(r['direction'], 40)}</td>"
        f"<td>{clip(r['perturbed'] if r['perturbed'] is not None else r['failure_reason'])}</td>"
        f'<td class="num">{_num(r["reward_perturbed"])}</td>'
        f'<td class="num">{_num(r["margin_before"])}</td>'
        f'<td class="num">{_num(r["margin_after"])}</td><td>{clip(r["outcome"], 40)}</td></tr>'
        for r in cut
    )
    table = (
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in header)
        + f"</tr></thead><tbody>{body}</tbody></table>"
    )
    return head + table + more_rows(max(n_rows, len(rows)) - len(cut))


def comparison_plain(shown: ShownComparison | None, n_rows: int, empty: str) -> str:
    if shown is None:
        return f"ComparisonView: {empty}"
    return (
        f"ComparisonView: comparison {shown['index'] + 1} of {shown['total']} "
        f"({shown['id']}), {n_rows} rewrite(s)"
    )


def examples_html(examples: Sequence[Example], annotations: Mapping[str, Annotation]) -> str:
    """The examples to annotate, one row each (at most :data:`MAX_ROWS`): kind, the RM's and
    the human's preference, the margin, the number of rewrites and any saved tags and note."""
    if not examples:
        return "<p>No examples to annotate.</p>"
    body = []
    for ex in list(examples)[:MAX_ROWS]:
        saved = annotations.get(ex["comparison_id"])
        tags = ", ".join(saved["tags"]) if saved else ""
        body.append(
            f"<tr><td>{clip(ex['comparison_id'], 200)}</td><td>{clip(ex['kind'], 40)}</td>"
            f"<td>{clip(ex['rm_preferred'] or '–', 10)}</td>"
            f"<td>{clip(ex['human_preferred'] or '–', 10)}</td>"
            f'<td class="num">{_num(ex["margin"])}</td><td class="num">{len(ex["rows"])}</td>'
            f"<td>{clip(tags, 400)}</td><td>{clip(saved['note'] if saved else '')}</td></tr>"
        )
    header = ("comparison", "kind", "RM prefers", "human", "margin", "rewrites", "tags", "note")
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in header)
        + f"</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + more_rows(len(examples) - len(body))
    )

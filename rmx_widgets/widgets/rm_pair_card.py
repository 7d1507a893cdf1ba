"""Both RMs in one card: each rewrite's rewards, margin and outcome under RM A and RM B.

RMCompare shows the two RMs side by side instead of toggling between them. Each RM orders a
pair by its own preference, so the same rewrite can be the "chosen" side under one RM and
the "rejected" side under the other: rows are matched on the rewrite itself (the ``original``
text it rewrites, attribute and direction within a comparison), never on ``side``. When the
RMs disagree the explainer asks each for the opposite direction on the same response (the
chosen one is made worse, the rejected one better), so those rewrites exist under one RM
only: the card reads "not rewritten under ..." and says that the RMs disagree.
Every value is shown as escaped text: responses and names are data, never markup.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

_KEY = ("comparison_id", "attribute", "direction", "original")
_FIELDS = (
    "side",
    "reward_original",
    "reward_perturbed",
    "reward_other",
    "margin_before",
    "margin_after",
    "outcome",
)


def _side_rows(table: pd.DataFrame, comparison_id: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """One RM's rows of one comparison, keyed by the rewritten response (first row wins
    when both responses are the same text: the rewrite is then the same too)."""
    if table.empty or "comparison_id" not in table:
        return {}
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in table[table["comparison_id"] == comparison_id].to_dict(orient="records"):
        out.setdefault(tuple(r[k] for k in _KEY), {f: r.get(f) for f in _FIELDS})
    return out


def pair_rows(table_a: pd.DataFrame, table_b: pd.DataFrame, comparison_id: str) -> list[dict]:
    """The rewrites of one comparison under both RMs: A's order first, then B-only rows.
    Each entry has ``attribute``, ``direction``, ``original``, ``a`` and ``b`` (the RM's
    row fields, or None when that RM has no such rewrite), ``side_a`` / ``side_b`` (the
    response's side under each RM, None when that RM has no row of it) and ``disagree`` (the
    RMs place the response on different sides: they disagree on the original preference)."""
    a = _side_rows(table_a, comparison_id)
    b = _side_rows(table_b, comparison_id)
    side_a = {k[3]: r["side"] for k, r in a.items()}
    side_b = {k[3]: r["side"] for k, r in b.items()}
    keys = list(a) + [k for k in b if k not in a]
    out = []
    for key in keys:
        ra, rb = a.get(key), b.get(key)
        out.append(
            {
                "attribute": key[1],
                "direction": key[2],
                "original": key[3],
                "a": ra,
                "b": rb,
                "side_a": side_a.get(key[3]),
                "side_b": side_b.get(key[3]),
                "disagree": bool(
                    key[3] in side_a and key[3] in side_b and side_a[key[3]] != side_b[key[3]]
                ),
            }
        )
    return out


def _num(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "not measured"
    return f"{float(x):.3f}"


def side_text(row: dict[str, Any] | None, name: str) -> str:
    """One RM's column of a card, as plain text."""
    if row is None:
        return f"not rewritten under {name}"
    return (
        f"{name}: {row['outcome']} · {row['side']} response · "
        f"reward original {_num(row['reward_original'])} / rewrite "
        f"{_num(row['reward_perturbed'])} / other {_num(row['reward_other'])} · "
        f"margin {_num(row['margin_before'])} → {_num(row['margin_after'])}"
    )


def cards_html(entries: list[dict], names: tuple[str, str]) -> str:
    """The cards of one comparison; every piece of data passes through ``html.escape``."""
    if not entries:
        return "<div class='rmx-empty'>No rewrites of this comparison under either RM.</div>"
    e = html.escape
    parts = []
    for x in entries:
        note = ""
        if x["disagree"]:
            note = (
                "<div class='rmx-pair-note'>"
                + e(
                    f"The RMs disagree on the original preference: this response is "
                    f"{x['side_a']} under {names[0]} and {x['side_b']} under {names[1]}, "
                    f"so each RM rewrote it in its own direction."
                )
                + "</div>"
            )
        original = x["original"] if len(x["original"]) <= 300 else x["original"][:300] + "…"
        parts.append(
            "<div class='rmx-card rmx-pair-card'>"
            f"<div class='rmx-card-head'>{e(str(x['attribute']))} · {e(str(x['direction']))}"
            f" · of: {e(original)}</div>{note}"
            "<div class='rmx-pair-cols' style='display:flex;flex-wrap:wrap;gap:1em'>"
            + "".join(
                f"<div class='rmx-pair-col' style='flex:1 1 20em'>{e(side_text(row, name))}</div>"
                for row, name in ((x["a"], names[0]), (x["b"], names[1]))
            )
            + "</div></div>"
        )
    return "".join(parts)

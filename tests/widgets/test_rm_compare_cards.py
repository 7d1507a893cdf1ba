"""RMCompare's both-RM cards: each rewrite's rewards, margin and outcome under RM A and RM B,
matched on the rewritten response (not on side, which each RM sets by its own preference)."""

from __future__ import annotations

import html

import pytest

import rmx_widgets as rmx
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel
from rmx_widgets.widgets import RMCompare
from rmx_widgets.widgets.rm_pair_card import cards_html, pair_rows, side_text

COMPS = rmx.sample_comparisons()[:6]
KEY = ["comparison_id", "attribute", "direction", "original"]


@pytest.fixture(scope="module")
def results():
    polite = TransparentRewardModel(
        {"pleasantries": 13.5, "follow_up": 4.5}, only=True, name="polite"
    )
    curt = TransparentRewardModel({"pleasantries": -13.5, "follow_up": 4.5}, only=True, name="curt")
    a = rmx.Explainer(
        polite,
        rmx.RulePerturber(),
        attributes=["manner", "engagement", "verbosity"],
        progress=False,
    ).explain(COMPS)
    # B is not asked about verbosity: those rewrites exist under A only
    b = rmx.Explainer(
        curt, rmx.RulePerturber(), attributes=["manner", "engagement"], progress=False
    ).explain(COMPS)
    return a, b


def _row(table, key):
    sel = table
    for col, val in zip(KEY, key):
        sel = sel[sel[col] == val]
    assert len(sel) == 1
    return sel.iloc[0]


def test_each_card_holds_both_tables_rows(results):
    a, b = results
    n_both = n_disagree = n_a_only = 0
    for cid in a.originals["comparison_id"]:
        entries = pair_rows(a.table, b.table, cid)
        ta = a.table[a.table["comparison_id"] == cid]
        tb = b.table[b.table["comparison_id"] == cid]
        keys_a = {tuple(r) for r in ta[KEY].itertuples(index=False)}
        keys_b = {tuple(r) for r in tb[KEY].itertuples(index=False)}
        assert len(entries) == len(keys_a | keys_b)
        for e in entries:
            key = (cid, e["attribute"], e["direction"], e["original"])
            for rm, res in (("a", a), ("b", b)):
                keys = keys_a if rm == "a" else keys_b
                if key not in keys:
                    assert e[rm] is None
                    continue
                want = _row(res.table, key)
                for f in ("side", "outcome"):
                    assert e[rm][f] == want[f]
                for f in (
                    "reward_original",
                    "reward_perturbed",
                    "reward_other",
                    "margin_before",
                    "margin_after",
                ):
                    assert e[rm][f] == pytest.approx(want[f], nan_ok=True)
            # the response's side under each RM, read off that RM's table
            for rm, res in (("side_a", a), ("side_b", b)):
                sides = set(res.table[res.table["original"] == e["original"]]["side"])
                assert e[rm] == (sides.pop() if sides else None)
            assert e["disagree"] == (
                e["side_a"] is not None and e["side_b"] is not None and e["side_a"] != e["side_b"]
            )
            if e["a"] and e["b"]:
                n_both += 1
                assert not e["disagree"]  # a shared rewrite means both rewrote it one way
            if e["b"] is None:
                # B was not asked about verbosity, or B prefers the other response and so
                # rewrote this one in the other direction
                assert e["attribute"] == "verbosity" or e["disagree"]
                n_a_only += 1
            n_disagree += e["disagree"]
    assert n_both > 0 and n_disagree > 0 and n_a_only > 0


def test_disagreement_is_said_and_values_are_shown(results):
    a, b = results
    pref_a = dict(zip(a.originals["comparison_id"], a.originals["preferred"]))
    pref_b = dict(zip(b.originals["comparison_id"], b.originals["preferred"]))
    cid = next(c for c in pref_a if pref_a[c] != pref_b[c])
    entries = pair_rows(a.table, b.table, cid)
    e = next(
        x for x in entries if x["disagree"] and x["a"] is not None and x["a"]["outcome"] != "failed"
    )
    # a chosen response under one RM is the rejected one under the other, so B has no
    # rewrite in A's direction of it (it rewrote it the other way)
    assert {e["side_a"], e["side_b"]} == {"chosen", "rejected"} and e["b"] is None
    text = html.unescape(cards_html(entries, ("polite", "curt")))
    assert f"this response is {e['side_a']} under polite and {e['side_b']} under curt" in text
    want = _row(a.table, (cid, e["attribute"], e["direction"], e["original"]))
    assert (
        f"polite: {want['outcome']} · {want['side']} response · reward original "
        f"{want['reward_original']:.3f} / rewrite {want['reward_perturbed']:.3f} / other "
        f"{want['reward_other']:.3f} · margin {want['margin_before']:.3f} → "
        f"{want['margin_after']:.3f}"
    ) in text
    assert side_text(e["b"], "curt") == "not rewritten under curt"
    assert "not rewritten under curt" in text and "not rewritten under polite" in text


def test_failed_rewrite_reads_not_measured():
    row = {
        "side": "chosen",
        "reward_original": 1.0,
        "reward_perturbed": float("nan"),
        "reward_other": 0.5,
        "margin_before": 0.5,
        "margin_after": None,
        "outcome": "failed",
    }
    assert side_text(row, "A") == (
        "A: failed · chosen response · reward original 1.000 / rewrite not measured / other "
        "0.500 · margin 0.500 → not measured"
    )


def test_hostile_strings_are_escaped():
    entries = [
        {
            "attribute": "<img src=x onerror=alert(1)>",
            "direction": "worse",
            "original": "<script>alert(1)</script>",
            "a": None,
            "b": None,
            "side_a": None,
            "side_b": None,
            "disagree": False,
        }
    ]
    out = cards_html(entries, ("<b>A</b>", "B&"))
    assert "<script>" not in out and "<img" not in out and "<b>A</b>" not in out
    assert "not rewritten under &lt;b&gt;A&lt;/b&gt;" in out and "under B&amp;" in out
    assert "No rewrites" in cards_html([], ("A", "B"))


def test_rm_compare_shows_cards_not_a_toggle(results):
    a, _ = results
    mild = TransparentRewardModel({"pleasantries": 2.0, "follow_up": 9.0}, only=True, name="mild")
    b = rmx.Explainer(
        mild, rmx.RulePerturber(), attributes=["manner", "engagement", "verbosity"], progress=False
    ).explain(COMPS)
    cmp = RMCompare(a, b, names=("polite", "mild"))
    assert not hasattr(cmp, "which") and cmp.cards in cmp.children
    assert cmp.contrasting_ids and cmp.view.comparison["id"] == cmp.contrasting_ids[0]
    cid = cmp.view.comparison["id"]
    assert cards_html(pair_rows(a.table, b.table, cid), cmp.names) in cmp.cards.value
    # the static rendering (nbconvert, GitHub) carries the same cards
    assert cmp.cards.value in cmp._repr_mimebundle_()["text/html"]
    if cmp.view.comparison["total"] > 1:
        cmp.view.index = 1
        nxt = cmp.view.comparison["id"]
        assert nxt != cid and html.escape(nxt) in cmp.cards.value


def test_cards_follow_the_views_attribute_filter(results):
    a, _ = results
    mild = TransparentRewardModel({"pleasantries": 2.0, "follow_up": 9.0}, only=True, name="mild")
    b = rmx.Explainer(
        mild, rmx.RulePerturber(), attributes=["manner", "engagement", "verbosity"], progress=False
    ).explain(COMPS)
    cmp = RMCompare(a, b, names=("polite", "mild"))
    cmp.view.show_attribute("engagement")  # what a chart click does
    cid = cmp.view.comparison["id"]
    want = [x for x in pair_rows(a.table, b.table, cid) if x["attribute"] == "engagement"]
    assert want and cards_html(want, cmp.names) in cmp.cards.value
    assert "manner ·" not in cmp.cards.value
    cmp.view.show_attribute(None)
    assert cards_html(pair_rows(a.table, b.table, cid), cmp.names) in cmp.cards.value
    # the static rendering (nbconvert, GitHub) carries the same cards
    assert cmp.cards.value in cmp._repr_mimebundle_()["text/html"]

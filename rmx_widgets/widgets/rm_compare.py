"""RMCompare: two reward models explained on the same comparisons, side by side.

Shows both sensitivity profiles as grouped bars, Kendall's τ between their attribute rankings
(over comparisons where both agree on the original preference), and the most contrasting
comparisons in a ComparisonView (RM A's rewrites with their diffs) above one card per
rewrite with its rewards, margin and outcome under both RMs side by side (rm_pair_card).

Without ``names=``, each RM is labelled by the readable part of its identity (the model's
folder or hub name, the function's name, the ``name=`` it was given) and never by its cache
hash; an identity that is only a hash reads "RM A" / "RM B", and equal labels get " (A)" /
" (B)" so the cards can tell the two apart.
"""

from __future__ import annotations

import html
import re

import ipywidgets as w

from rmx_widgets.core.compare import RMComparison, compare
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.explain import ExplanationResult
from rmx_widgets.widgets import static_view
from rmx_widgets.widgets.comparison_view import ComparisonView
from rmx_widgets.widgets.rm_pair_card import cards_html, pair_rows
from rmx_widgets.widgets.sensitivity_chart import SensitivityChart


class RMCompare(w.VBox):
    def __init__(
        self,
        result_a: ExplanationResult,
        result_b: ExplanationResult,
        *,
        names: tuple[str, str] | None = None,
        k: int = 5,
    ) -> None:
        self.results = (result_a, result_b)
        self.names = (
            _check_names(names) if names is not None else default_labels(result_a.rm, result_b.rm)
        )
        self.comparison = compare(result_a, result_b, k=k)
        c = self.comparison
        self.chart = SensitivityChart()
        self.chart.show_comparison(c.sens_a, c.sens_b, self.names[0], self.names[1])
        ids = list(c.contrasting["comparison_id"]) if len(c.contrasting) else []
        self.contrasting_ids = ids
        self.view = ComparisonView()
        self.cards = w.HTML()
        self.cards.add_class("rmx-pair-cards")
        self.view.observe(lambda ch: self._show_cards(), ["comparison", "filters"])
        self.chart.observe(lambda ch: self.view.show_attribute(ch["new"] or None), "selected")
        tau = _tau_text(c, self.names)
        header = w.HTML(
            f"<div class='rmx-summary'><b>{html.escape(self.names[0])}</b> vs "
            f"<b>{html.escape(self.names[1])}</b>: Kendall's τ-b = <b>{tau}</b> over "
            f"{c.n_agree} comparisons where both agree on the original preference; "
            f"{len(ids)} most contrasting examples below.</div>"
        )
        super().__init__([header, self.chart, self.view, self.cards])
        self.add_class("rmx-rm-compare")
        self._show()

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        """The live view plus a static rendering (nbconvert, GitHub): the header, each RM's
        sensitivity table and the contrasting comparison on screen (static_view)."""
        c, (a, b) = self.comparison, self.names
        parts = [
            f"<p>{html.escape(a)} vs {html.escape(b)}: Kendall's τ-b = "
            f"{_tau_text(c, self.names)} over {c.n_agree} comparisons</p>"
        ]
        for name, sens in ((a, c.sens_a), (b, c.sens_b)):
            parts += [f"<p><b>{html.escape(name)}</b></p>", static_view.sensitivity_html(sens)]
        parts.append(self.view.static_html())
        parts.append(self.cards.value)  # both RMs per rewrite (rm_pair_card escapes every value)
        return static_view.with_static(
            super()._repr_mimebundle_(**kwargs),
            static_view.page(parts, "RMCompare"),
            f"RMCompare: {a} vs {b}, {len(self.contrasting_ids)} contrasting example(s)",
        )

    def _show(self) -> None:
        result = self.results[0]
        keep = set(self.contrasting_ids)
        comps = [c for c in result.comparisons if c.id in keep]
        order = {cid: n for n, cid in enumerate(self.contrasting_ids)}
        comps.sort(key=lambda c: order[c.id])
        table = result.table[result.table["comparison_id"].isin(keep)]
        self.view.set_data(comps, table, result.originals)
        self._show_cards()

    def _show_cards(self) -> None:
        """Both RMs' rows of the comparison on screen, matched on the rewritten response; the
        view's attribute filter (a chart click) narrows the cards too, so both stay in step."""
        shown = self.view.comparison
        if not shown:
            self.cards.value = ""
            return
        entries = pair_rows(self.results[0].table, self.results[1].table, shown["id"])
        attribute = self.view.filters.get("attribute") or ""
        if attribute:
            entries = [x for x in entries if x["attribute"] == attribute]
        head = f"<b>Rewrites of {html.escape(shown['id'])} under both RMs</b>"
        self.cards.value = head + cards_html(entries, self.names)


# Parts of an identity that are cache-key detail, not a name: content digests (``w`` marks a
# transparent RM's weight digest), versions, dtypes and key=value settings.
_HASH = re.compile(r"^w?[0-9a-f]{6,}$")
_DETAIL = re.compile(r"^(v\d+|auto|u?int\d+|b?float\d+|half|.*=.*)$")
_KINDS = {"hf", "transparent", "callable", "dpo"}


def rm_label(identity: str) -> str | None:
    """The readable name inside an RM identity, or None when it holds only a hash:
    ``hf:/models/Skywork-RM:bfloat16`` -> ``Skywork-RM``, ``hf:org/rm-7b:float32`` ->
    ``rm-7b``, ``callable:mod.my_rm:<digest>`` -> ``my_rm``, ``helpful:w<digest>`` ->
    ``helpful``, ``transparent:v1:<digest>`` and a lambda's identity -> None."""
    parts = [p for p in str(identity).split(":") if p]
    for i, part in enumerate(parts):
        if (i == 0 and len(parts) > 1 and part in _KINDS) or _HASH.match(part):
            continue
        if _DETAIL.match(part):
            continue
        name = part.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]  # a path's last folder
        if parts[0] == "callable":
            name = name.rsplit(".", 1)[-1]  # module.qualname -> the function's own name
        if name and name != "<lambda>":
            return name
    return None


def default_labels(identity_a: str, identity_b: str) -> tuple[str, str]:
    """Two distinct readable labels for two RM identities (see the module docstring)."""
    a = rm_label(identity_a) or "RM A"
    b = rm_label(identity_b) or "RM B"
    return (f"{a} (A)", f"{b} (B)") if a == b else (a, b)


def _check_names(names: tuple[str, str]) -> tuple[str, str]:
    """``names=`` as given, refused when the cards could not tell the two RMs apart."""
    if (
        isinstance(names, str)
        or len(names) != 2
        or not all(isinstance(n, str) and n.strip() for n in names)
    ):
        raise OptionError(f"RMCompare names= must be two non-empty strings, got {names!r}.")
    if names[0] == names[1]:
        raise OptionError(
            f"RMCompare names= must differ (both are {names[0]!r}): they label the two RMs."
        )
    return (names[0], names[1])


def _relabel(note: str, identities: tuple[str, str], names: tuple[str, str]) -> str:
    """``note`` with each RM identity replaced by its label: the longer identity first (one
    may contain the other); the same identity twice (one RM compared with itself) is read
    in order, its first mention A's and its second B's."""
    if identities[0] == identities[1]:
        for label in names:
            note = note.replace(identities[0], label, 1) if identities[0] else note
        return note
    for identity, label in sorted(zip(identities, names), key=lambda p: -len(p[0])):
        note = note.replace(identity, label) if identity else note
    return note


def _tau_text(c: RMComparison, names: tuple[str, str]) -> str:
    """τ with its interval, or why it is undefined (never a number it does not have); the
    engine's reason names the RMs by identity, shown here by their labels."""
    if c.tau != c.tau:
        return html.escape(_relabel(c.tau_note or "undefined", (c.name_a, c.name_b), names))
    if c.tau_low == c.tau_low and c.tau_high == c.tau_high:
        return f"{c.tau:.3f} [{c.tau_low:.3f}, {c.tau_high:.3f}]"
    return f"{c.tau:.3f}"

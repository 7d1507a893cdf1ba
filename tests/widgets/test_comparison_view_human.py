"""The ComparisonView sends the human label with the comparison on screen."""

from rmx_widgets.core.data import Comparison
from rmx_widgets.widgets.comparison_view import ComparisonView
from rmx_widgets.widgets.contract import ShownComparison, fields

COMPS = [
    Comparison("c1", "q1", "long answer here", "short", human_preferred="b"),
    Comparison("c2", "q2", "x", "y"),  # no human label
    Comparison("c3", "q3", "x", "z", human_preferred="chosen"),  # not a label: sent as None
]


def test_the_comparison_payload_carries_the_human_label():
    view = ComparisonView(comparisons=COMPS)
    assert "human_preferred" in fields(ShownComparison)
    seen = []
    for i in range(3):
        view.index = i
        seen.append(view.comparison["human_preferred"])
    assert seen == ["b", None, None]

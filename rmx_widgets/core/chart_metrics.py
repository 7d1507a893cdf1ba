"""What the sensitivity chart can plot per attribute and direction: one definition per metric.

The chart (``core.charts.sensitivity_chart``) draws one bar per attribute and direction; which
figure of the sensitivity table the bar is, is a :class:`ChartMetric`:

* ``pfr``: the preference flip rate, CF / n over the successful rewrites, with its 95 %
  interval (cluster bootstrap over comparisons, Wilson floor; ``core.sensitivity``).
* ``excess``: PFR − null PFR on the rewrites paired with an attribute-blind null rewrite, with
  its 95 % interval (bootstrap, Newcombe floor; ``core.null_test``). Not measured without a
  null run or without a pair.
* ``margin``: the mean margin change, mean((margin_after − margin_before) / s) with s the RM's
  reward spread (``core.sensitivity.reward_spread``); no interval is computed for it, so none
  is drawn. Not measured without a successful rewrite or when s is 0.
* ``failure``: the failure rate, failed / attempted rewrites (``core.readability``); no
  interval (the failures of one comparison are not independent, and no clustered interval is
  computed), and "not measured" only when nothing was attempted: a rate of 1.0 where every
  rewrite failed is a measurement, the one the other metrics cannot show.

A row whose figure is missing is "not measured" (a cross, no bar), never a bar at 0. Each
metric's axis title states its definition. This module imports nothing from Jupyter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rmx_widgets.core.readability import (
    DEFAULT_CONFIDENCE,
    MIN_READABLE_N,
    NOT_MEASURED,
    TOO_FEW,
    level_text,
    reading,
)


@dataclass(frozen=True)
class ChartMetric:
    """One plottable figure: its column in a sensitivity / face row, the interval's columns
    (None when no interval is computed), the axis title (its definition), the legend's words
    and the fixed axis domain (None: symmetric around 0, sized to the data)."""

    name: str
    label: str
    column: str
    low: str | None
    high: str | None
    title: str
    whisker_key: str | None
    not_measured_key: str
    too_few_key: str
    domain: tuple[float, float] | None
    tests_null: bool
    """Whether the null tick and the significance marker belong on this axis."""

    def whisker(self, confidence: float = DEFAULT_CONFIDENCE) -> str | None:
        """The whisker's legend entry at the table's interval level (None: no interval)."""
        if self.whisker_key is None:
            return None
        return self.whisker_key.format(level=level_text(confidence))


METRICS: dict[str, ChartMetric] = {
    m.name: m
    for m in (
        ChartMetric(
            name="pfr",
            label="PFR",
            column="pfr",
            low="ci_low",
            high="ci_high",
            title="preference flip rate",
            whisker_key="whisker: {level} interval",
            not_measured_key="not measured: n = 0 (no bar)",
            too_few_key=f"too few: n < {MIN_READABLE_N} (light bar)",
            domain=(0.0, 1.0),
            tests_null=True,
        ),
        ChartMetric(
            name="excess",
            label="excess over the null",
            column="excess_pfr",
            low="excess_ci_low",
            high="excess_ci_high",
            title="excess over the null = PFR − null perturber's PFR on paired rewrites",
            whisker_key="whisker: {level} interval (bootstrap, Newcombe floor)",
            not_measured_key="not measured: no null run or no paired rewrite (no bar)",
            too_few_key=f"too few: n < {MIN_READABLE_N} (light bar)",
            domain=(-1.0, 1.0),
            tests_null=True,
        ),
        ChartMetric(
            name="margin",
            label="margin change",
            column="mean_margin_change",
            low=None,
            high=None,
            title="mean margin change = mean(margin after − margin before) / RM reward spread",
            whisker_key=None,
            not_measured_key="not measured: n = 0 or no reward spread (no bar)",
            too_few_key=f"too few: n < {MIN_READABLE_N} (light bar)",
            domain=None,
            tests_null=False,
        ),
        ChartMetric(
            name="failure",
            label="failure rate",
            column="failed_rate",
            low=None,
            high=None,
            title="failure rate = failed / attempted rewrites",
            whisker_key=None,
            not_measured_key="not measured: nothing attempted (no bar)",
            too_few_key=f"too few: attempted < {MIN_READABLE_N} (light bar)",
            domain=(0.0, 1.0),
            tests_null=False,
        ),
    )
}
DEFAULT_METRIC = "pfr"


def chart_metric(name: str) -> ChartMetric:
    """The metric called ``name``; a clear error listing the choices for any other name."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise ValueError(f"metric={name!r}: choose one of {sorted(METRICS)}.") from None


def metric_columns(data: pd.DataFrame, metric: ChartMetric) -> pd.DataFrame:
    """``data`` (face rows with ``mean_margin_change``) with the plotted ``value``, ``low`` and
    ``high`` (NaN without an interval) and the ``reading`` of this metric: "not measured" where
    its value is missing, "too few" where fewer than MIN_READABLE_N rewrites (attempted ones
    for the failure rate, paired ones for the excess: :func:`_readable_base`) stand behind it."""
    out = data.copy()
    value = pd.to_numeric(out[metric.column], errors="coerce").astype(float)
    out["value"] = value.to_numpy()
    for key, column in (("low", metric.low), ("high", metric.high)):
        out[key] = (
            pd.to_numeric(out[column], errors="coerce").astype(float).to_numpy()
            if column is not None
            else np.nan
        )
    base = _readable_base(out, metric)
    out["reading"] = [NOT_MEASURED if math.isnan(v) else reading(b) for v, b in zip(value, base)]
    return out


def _readable_base(data: pd.DataFrame, metric: ChartMetric) -> pd.Series:
    """How many cases stand behind each of ``metric``'s values, for the "too few" mark: the
    attempted rewrites for the failure rate, the paired rewrites (``null_n``) for the excess,
    which is computed on the pairs only (a PFR over 50 rewrites can sit beside an excess over
    3 pairs), and the successful rewrites otherwise."""
    if metric.name == "failure":
        return data["n"] + data["n_failed"]
    if metric.name == "excess" and "null_n" in data.columns:
        return pd.to_numeric(data["null_n"], errors="coerce").fillna(0)
    return data["n"]


def metric_domain(data: pd.DataFrame, metric: ChartMetric) -> tuple[float, float]:
    """The x domain: the metric's fixed one, or (−m, m) with m the largest |value| or interval
    bound (10 % of room; 1 when nothing is measured), so 0 sits in the middle."""
    if metric.domain is not None:
        return metric.domain
    values = data[["value", "low", "high"]].to_numpy(float).ravel()
    values = values[np.isfinite(values)]
    extent = float(np.abs(values).max()) if values.size else 0.0
    extent = extent * 1.1 if extent > 0 else 1.0
    return (-extent, extent)


def reading_keys(metric: ChartMetric) -> dict[str, str]:
    """The legend entries of the reading marks in this metric's words."""
    return {TOO_FEW: metric.too_few_key, NOT_MEASURED: metric.not_measured_key}

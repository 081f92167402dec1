"""Axes a reader can trust at a glance: a score's axis from 0, and x tick labels that are few,
compact and apart (a learning-rate axis labelled 0.0005, 0.0010, ... ran its labels together)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.ticker import FixedFormatter, FixedLocator, MaxNLocator, NullFormatter

# labels per panel: a 5-inch panel holds this many 30°-rotated ``1.5e-3`` labels apart
MAX_TICKS = 6
# a grid's values are labelled themselves up to this many; more were sampled
MAX_VALUE_TICKS = 6
# room above the highest point, as a share of the axis, so no point sits on the frame
Y_MARGIN = 0.05


def from_zero(ax: Any, metric: str) -> None:
    """Start the score axis at 0, and say so in its label. Why: an axis cropped to the spread of
    the scores draws 0.801 against 0.803 as a cliff; from 0, heights compare as the scores do,
    the error bars (the spread over repeats) show which gaps are more than noise, and the exact
    values are in the report's table. A score below 0 keeps the axis matplotlib chose."""
    lowest, highest = _plotted_range(ax)
    if lowest < 0:
        ax.set_ylabel(metric)
        return
    ax.set_ylim(0.0, highest * (1 + Y_MARGIN) if highest > 0 else 1.0)
    ax.set_ylabel(f"{metric} (axis from 0)")


def _plotted_range(ax: Any) -> tuple[float, float]:
    """The lowest and highest plotted y, error-bar ends included: what the axis must hold."""
    ys = [y for line in ax.lines for y in line.get_ydata()]
    for collection in ax.collections:  # error bars: segments of (x, y) pairs
        ys += [y for segment in collection.get_segments() for _, y in segment]
    return (min(ys), max(ys)) if ys else (0.0, 0.0)


def readable_x_ticks(ax: Any, values: Sequence[float], log: bool) -> None:
    """Few x labels, rotated so that neighbours do not touch; on a log axis at the swept values
    themselves (a grid) or at 1-2-5 steps (a sampled search), thinned to MAX_TICKS, written
    compactly (``3e-4``), with unlabelled minor ticks (matplotlib labels them on short ranges)."""
    if log:
        ax.set_xscale("log")
        ticks = log_ticks(values)
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FixedFormatter(compact_labels(ticks)))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=MAX_TICKS))
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def log_ticks(values: Sequence[float]) -> list[float]:
    """Tick positions on a log axis through ``values`` (all positive): a grid's own values, a
    sampled search's round steps; either way few enough for MAX_TICKS labels to fit."""
    distinct = sorted(set(values))
    if len(distinct) <= MAX_VALUE_TICKS:
        return thinned(distinct)
    return round_steps(distinct[0], distinct[-1])


def round_steps(low: float, high: float) -> list[float]:
    """The finest of 1-2-5, 1-3 or decade steps between ``low`` and ``high`` that gives at most
    MAX_TICKS ticks (every n-th decade over a wider range)."""
    decades = list(range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1))
    for multiples in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0**d for d in decades for m in multiples if low <= m * 10.0**d <= high]
        if len(ticks) <= MAX_TICKS:
            return ticks or [low, high]
    every = math.ceil(len(decades) / MAX_TICKS)
    return [10.0**d for d in decades[::every] if low <= 10.0**d <= high]


def thinned(ticks: list[float]) -> list[float]:
    """Ticks at least 1/MAX_TICKS of their log range apart, the first always kept."""
    span = math.log10(ticks[-1] / ticks[0])
    kept = ticks[:1]
    for tick in ticks[1:]:
        if math.log10(tick / kept[-1]) >= span / MAX_TICKS:
            kept.append(tick)
    return kept


def compact_labels(ticks: Sequence[float]) -> list[str]:
    """``0.5``, ``20``: plain while every tick reads so; else all as ``3e-4``, ``1.25e-3``,
    ``1e-2``, one style along an axis."""
    if all(1e-2 <= abs(t) < 1e4 for t in ticks):
        return [f"{t:g}" for t in ticks]
    return [_exponent_form(t) for t in ticks]


def _exponent_form(value: float) -> str:
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"

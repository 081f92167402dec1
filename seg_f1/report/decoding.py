"""What a person reads about a calibrated decision rule: per-class F1 with argmax and with the
tuned offsets in one figure, and the lines ``diagnosis.md`` gains."""

from __future__ import annotations

import math

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from seg_f1.report.figures import per_class_f1_figure

TUNED_LABEL = "tuned decision offsets"
SECTION = "\n## Decision rule\n"


def decoding_figure(record: dict, small: float = 0.01) -> Figure:
    """The report split's F1 per class: bars for argmax, a black tick for the tuned offsets."""
    split = record["reported_on"]
    rows = record[split]["per_class"]
    names = list(rows)
    title = (
        f"{split} F1 per class: argmax {record[split]['argmax']:.4f} (bars), "
        f"{TUNED_LABEL} {record[split]['f1']:.4f} (|)"
    )
    fig = per_class_f1_figure(
        names, [rows[n]["argmax"] for n in names], [rows[n]["pixel_share"] for n in names],
        small, title,
    )  # fmt: skip
    ax = fig.axes[0]
    positions = dict(
        zip((t.get_text() for t in ax.get_yticklabels()), ax.get_yticks(), strict=True)
    )
    ticks = [(rows[n]["f1"], positions[n]) for n in names if not math.isnan(rows[n]["f1"])]
    if ticks:
        ax.scatter(*zip(*ticks, strict=True), marker="|", s=200, color="black", zorder=3)
    legend = ax.get_legend()
    tick = Line2D([], [], marker="|", linestyle="none", color="black", markersize=12)
    tick.set_label(TUNED_LABEL)
    handles = [*legend.legend_handles, tick]
    # below the axes: inside, it would hide the ticks of the shortest bars
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3,
              fontsize="small")  # fmt: skip
    return fig


def diagnosis_section(record: dict) -> str:
    """Markdown appended to ``diagnosis.md``: what the tuned rule does on the report split."""
    split = record["reported_on"]
    scores = record[split]
    moved = {n: v for n, v in record["offsets"].items() if v}
    offsets = ", ".join(f"{n} {v:+.2f}" for n, v in moved.items()) or "none (argmax kept)"
    return (
        f"{SECTION}\n"
        f"{split} F1 with argmax {scores['argmax']:.4f}, with per-class offsets tuned on "
        f"{record['tuned_on']} {scores['f1']:.4f} ({scores['f1'] - scores['argmax']:+.4f}); "
        f"{record['kept_share']:.2f} of the tuned offsets kept by the held-out check. "
        f"Offsets: {offsets}. Details: calibration.json, per_class_f1_decoding.png.\n"
    )

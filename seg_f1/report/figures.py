"""Figures of one run (curves, per-class F1, the confusion matrix, prediction overlays) and of a
sweep (objective per swept value, per epoch of each trial, per epoch of each configuration).

Every function returns a matplotlib Figure (Agg, no display) so callers can save it or hand it
to TensorBoard. Every figure has a title saying what it shows (split, epoch, run), labelled axes,
and a legend of class colours wherever colours mean classes.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

from seg_f1.report.axes import from_zero, readable_x_ticks  # noqa: E402
from seg_f1.report.palette import overlay, palette  # noqa: E402

SMALL_COLOUR, USUAL_COLOUR = "tab:orange", "tab:blue"
CELL_MIN = 0.005  # a confusion cell whose share rounds to 0% is left blank


# inches a legend entry takes in a small font, and its title and frame
LEGEND_ENTRY_IN, LEGEND_FRAME_IN = 0.2, 0.9


def class_legend(fig: Figure, class_names: Sequence[str], **where: Any) -> Any:
    """A legend of the fixed class colours. Overlays show the photo where the background is, so
    it has no colour and is left out (predict's legend.png says so: ``palette.legend_picture``)."""
    colours = palette(class_names) / 255
    handles = [
        Patch(facecolor=colour, edgecolor="black", linewidth=0.5, label=name)
        for name, colour in zip(class_names, colours, strict=True)
        if name != "background"
    ]
    return fig.legend(handles=handles, title="class colours", fontsize="small", **where)


def legend_height(class_names: Sequence[str]) -> float:
    """Inches the class legend needs, so a figure of one row still holds all of it."""
    return LEGEND_ENTRY_IN * len(class_names) + LEGEND_FRAME_IN


def curves_figure(rows: list[dict[str, float]], title: str = "") -> Figure:
    """Loss (left axis) and F1 (right axis) per epoch, one panel per split, and the learning
    rate each epoch trained with (``lr`` in the rows). The rows count epochs from 0, as
    Lightning and metrics.csv do; the axis from 1, as the epoch line and the sweep figures do."""
    epochs = [int(row["epoch"]) + 1 for row in rows]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    for ax, split in zip(axes, ("train", "val"), strict=False):
        loss = ax.plot(epochs, [r.get(f"{split}/loss", math.nan) for r in rows], "o-",
                       color="tab:red", label=f"{split}/loss")  # fmt: skip
        ax.set_ylabel("loss (the mean the optimiser sees)", color="tab:red")
        twin = ax.twinx()
        f1 = twin.plot(epochs, [r.get(f"{split}/f1", math.nan) for r in rows], "s-",
                       color="tab:blue", label=f"{split}/f1")  # fmt: skip
        twin.set_ylabel("F1 (the goal)", color="tab:blue")
        ax.legend(handles=loss + f1, loc="center right", fontsize="small")
        ax.set_title(f"{split}: loss vs F1")
    lr_ax = axes[2]
    rates = [r.get("lr", math.nan) for r in rows]
    lr_ax.plot(epochs, rates, "o-", color="tab:green")
    if any(rate > 0 for rate in rates):
        lr_ax.set_yscale("log")
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_title("learning rate per epoch")
    for ax in axes:
        ax.set_xlabel("epoch")
        whole_epochs(ax, epochs)
    fig.suptitle(title or "training curves", wrap=True)  # a sweep job names its overrides
    return fig


def per_class_f1_figure(
    class_names: Sequence[str],
    f1: Sequence[float],
    share: Sequence[float],
    small: float,
    title: str = "",
) -> Figure:
    """Sorted horizontal bars with their values; classes under ``small`` of the pixels in
    orange, as their F1 rests on few pixels."""
    order = sorted(range(len(class_names)), key=lambda i: np.nan_to_num(f1[i], nan=-1.0))
    labels = [class_names[i] for i in order]
    values = [0.0 if math.isnan(f1[i]) else f1[i] for i in order]
    colours = [SMALL_COLOUR if share[i] < small else USUAL_COLOUR for i in order]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(labels) + 1.6), constrained_layout=True)
    bars = ax.barh(labels, values, color=colours)
    texts = ["n/a" if math.isnan(f1[i]) else f"{f1[i]:.3f}" for i in order]
    ax.bar_label(bars, texts, padding=2, fontsize="small")
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("F1 (2TP / (2TP + FP + FN), over the whole split)")
    ax.set_ylabel("class")
    ax.legend(handles=[Patch(color=USUAL_COLOUR, label=f"≥ {small:.1%} of the pixels"),
                       Patch(color=SMALL_COLOUR, label=f"< {small:.1%} of the pixels")],
              loc="lower right", fontsize="small")  # fmt: skip
    ax.set_title(title or "F1 per class", wrap=True)
    return fig


def confusion_figure(confmat: np.ndarray, class_names: Sequence[str], title: str = "") -> Figure:
    """Row-normalised: each row (a target class) shows where its pixels went, in percent; cells
    under half a percent stay blank so the numbers that matter stand out."""
    rows = confmat.sum(1, keepdims=True)
    normalised = np.divide(confmat, rows, out=np.zeros_like(confmat, dtype=float), where=rows > 0)
    size = 0.45 * len(class_names) + 2.5
    fig, ax = plt.subplots(figsize=(size + 1.5, size), constrained_layout=True)
    image = ax.imshow(normalised, vmin=0, vmax=1, cmap="Blues")
    fontsize = 7 if len(class_names) > 12 else 9
    for (row, col), value in np.ndenumerate(normalised):
        if value >= CELL_MIN:
            colour = "white" if value > 0.6 else "black"
            ax.text(col, row, f"{value:.0%}".rstrip("%"), ha="center", va="center",
                    fontsize=fontsize, color=colour)  # fmt: skip
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=90)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("target class")
    bar = fig.colorbar(image, ax=ax, fraction=0.046)
    bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))  # as the cells read
    bar.set_label("share of the target class's pixels (row sums to 100%)")
    ax.set_title(title or "confusion matrix (%, row-normalised)", wrap=True)
    return fig


def predictions_figure(
    images: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    class_names: Sequence[str],
    title: str = "",
) -> Figure:
    """One row per image: the photo, the ground truth overlay, the prediction overlay; the class
    colours in a legend on the right."""
    height = max(2.5 * len(images) + 0.6, legend_height(class_names))
    fig, axes = plt.subplots(len(images), 3, figsize=(10, height),
                             squeeze=False, constrained_layout=True)  # fmt: skip
    for row, (image, target, prediction) in enumerate(
        zip(images, targets, predictions, strict=True)
    ):
        panels = (
            image,
            overlay(image, target, class_names),
            overlay(image, prediction, class_names),
        )
        for ax, panel, name in zip(
            axes[row], panels, ("image", "target", "prediction"), strict=True
        ):
            ax.imshow(panel)
            ax.set_title(name)
            ax.axis("off")
    class_legend(fig, class_names, loc="outside right center")
    fig.suptitle(title or "predictions", wrap=True)
    return fig


# a line: its label and, per point, x, mean and standard deviation
Series = tuple[str, Sequence[Any], Sequence[float], Sequence[float]]


def sweep_figure(
    panels: Sequence[tuple[str | None, Sequence[Series]]],
    metric: str,
    title: str = "",
    log_keys: Sequence[str] = (),
    joined: bool = True,
) -> Figure:
    """One panel per numeric swept parameter (``None``: configurations side by side), error bars
    one standard deviation, the score axis from 0 (``from_zero`` says why). Points are joined
    only when ``joined`` (a grid, whose values are ordered steps); sampled trials and categories
    stay points. Keys in ``log_keys`` get a log axis; every x axis few, rotated labels."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.4), squeeze=False,
                             constrained_layout=True)  # fmt: skip
    for ax, (key, lines) in zip(axes[0], panels, strict=True):
        for label, xs, means, stds in lines:
            style = "-" if key and joined else "none"
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, linestyle=style, label=label)
        ax.set_xlabel(key or "configuration")
        from_zero(ax, metric)
        if key is None:
            plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        else:
            readable_x_ticks(ax, [x for line in lines for x in line[1]], log=key in log_keys)
        if key is not None and len(lines) > 1:
            ax.legend(fontsize="small")
        ax.set_title(f"{metric} vs {key}" if key else f"{metric} per configuration")
        ax.grid(alpha=0.3)
    fig.suptitle(fitted(title or f"sweep: best {metric} of each trial", fig))
    return fig


def fitted(title: str, fig: Figure, points: float = 12) -> str:
    """``title`` wrapped to the figure's width (a sweep's long path would be cut at both
    edges), at about 0.6 of the font size per character."""
    width = max(20, int(fig.get_figwidth() * 72 / (0.6 * points)))
    return textwrap.fill(title, width=width)


def trials_figure(study: Any, metric: str) -> Figure:
    """The objective per epoch of every Optuna trial (its reported intermediate values), pruned
    trials dashed."""
    from optuna.trial import TrialState

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {TrialState.COMPLETE: "-", TrialState.PRUNED: "--"}
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    for trial, colour in zip(trials, distinct_colours(len(trials)), strict=True):
        steps = sorted(trial.intermediate_values)
        values = [trial.intermediate_values[s] for s in steps]
        family = trial.params.get("loss")  # the loss family, when the search chooses it
        label = " ".join(str(part) for part in (trial.number, family, trial.state.name.lower())
                         if part is not None)  # fmt: skip
        ax.plot(steps, values, styles.get(trial.state, ":"), marker=".", color=colour,
                alpha=0.8, label=label)  # fmt: skip
    ax.set_xlabel("epoch")
    whole_epochs(ax, [step for trial in trials for step in trial.intermediate_values])
    ax.set_ylabel(metric)
    ax.set_title(f"{study.study_name}: {metric} per epoch (dashed: pruned)")
    ax.grid(alpha=0.3)
    if len(ax.lines) <= 20:
        ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def whole_epochs(ax: Any, epochs: Sequence[float]) -> None:
    """Integer epoch ticks, also for a one-epoch run: around a single x matplotlib's range is
    0.1 wide, which the integer locator would still split into fractions."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs and max(epochs) - min(epochs) < 1:
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        ax.set_xticks(sorted({int(epoch) for epoch in epochs}))


def distinct_colours(count: int) -> list[Any]:
    """``count`` colours no two alike: the 10 of the default cycle, then 20, then a sampled map
    (the default cycle repeats after 10 lines)."""
    if count <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(count)]
    if count <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(count)]
    return [plt.get_cmap("turbo")(x) for x in np.linspace(0.05, 0.95, count)]


def mean_band_figure(series: Sequence[Series], labels: Mapping[str, str]) -> Figure:
    """Per epoch, each line's mean with a band of one standard deviation; ``labels`` gives the
    axes' ``xlabel``, ``ylabel`` and ``title``."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, epochs, means, sds in series:
        (line,) = ax.plot(epochs, means, marker="o", markersize=3, label=label)
        lows = [m - s for m, s in zip(means, sds, strict=True)]
        highs = [m + s for m, s in zip(means, sds, strict=True)]
        ax.fill_between(epochs, lows, highs, color=line.get_color(), alpha=0.15)
    whole_epochs(ax, [epoch for _, epochs, _, _ in series for epoch in epochs])
    ax.set(**labels)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def loss_vs_f1_figure(history: dict[str, list[float]]) -> Figure:
    """Per split, F1 against the loss, each point an epoch (from 1): does a lower loss give a
    higher F1? The layout keeps the right panel's y-label off the left panel."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, split in zip(axes, ("train", "val"), strict=True):
        loss, f1 = history[f"{split}/loss"], history[f"{split}/f1"]
        ax.plot(loss, f1, "o-")
        for epoch, (x, y) in enumerate(zip(loss, f1, strict=True), start=1):
            ax.annotate(str(epoch), (x, y))
        ax.invert_xaxis()  # to the right = loss going down
        ax.set(xlabel=f"{split}/loss (down is better)", ylabel=f"{split}/f1 (the goal)",
               title=f"{split}: does lower loss give higher F1?")  # fmt: skip
    return fig

"""Figures of one run (curves, per-class F1, the confusion matrix, prediction overlays) and of a
sweep (objective per swept value, per epoch of each trial, per epoch of each configuration).

Every function returns a matplotlib Figure (Agg, no display) so callers can save it or hand it
to TensorBoard.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from seg_f1.report.palette import overlay  # noqa: E402


def curves_figure(rows: list[dict[str, float]]) -> Figure:
    """Loss (left axis) and F1 (right axis) per epoch, one panel per split."""
    epochs = [row["epoch"] for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, split in zip(axes, ("train", "val"), strict=True):
        ax.plot(epochs, [r.get(f"{split}/loss", math.nan) for r in rows], "o-", color="tab:red")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{split}/loss", color="tab:red")
        twin = ax.twinx()
        twin.plot(epochs, [r.get(f"{split}/f1", math.nan) for r in rows], "s-", color="tab:blue")
        twin.set_ylabel(f"{split}/f1", color="tab:blue")
        ax.set_title(f"{split}: loss (means) vs F1 (goal)")
    return fig


def per_class_f1_figure(
    class_names: Sequence[str], f1: Sequence[float], share: Sequence[float], small: float
) -> Figure:
    """Sorted horizontal bars; classes under ``small`` of the pixels are marked with '*'."""
    order = sorted(range(len(class_names)), key=lambda i: np.nan_to_num(f1[i], nan=-1.0))
    labels = [class_names[i] + (" *" if share[i] < small else "") for i in order]
    values = [0.0 if math.isnan(f1[i]) else f1[i] for i in order]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(labels) + 1.2), constrained_layout=True)
    ax.barh(labels, values, color=["tab:orange" if "*" in lab else "tab:blue" for lab in labels])
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"F1   (* = under {small:.1%} of the pixels)")
    return fig


def confusion_figure(confmat: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Row-normalised: each row (a target class) shows where its pixels went."""
    rows = confmat.sum(1, keepdims=True)
    normalised = np.divide(confmat, rows, out=np.zeros_like(confmat, dtype=float), where=rows > 0)
    size = 0.35 * len(class_names) + 2
    fig, ax = plt.subplots(figsize=(size + 1, size), constrained_layout=True)
    image = ax.imshow(normalised, vmin=0, vmax=1, cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=90)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("prediction")
    ax.set_ylabel("target")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return fig


def predictions_figure(
    images: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    class_names: Sequence[str],
) -> Figure:
    """One row per image: the photo, the ground truth overlay, the prediction overlay."""
    fig, axes = plt.subplots(len(images), 3, figsize=(7.5, 2.5 * len(images)), squeeze=False)
    for row, (image, target, prediction) in enumerate(
        zip(images, targets, predictions, strict=True)
    ):
        panels = (
            image,
            overlay(image, target, class_names),
            overlay(image, prediction, class_names),
        )
        for ax, panel, title in zip(
            axes[row], panels, ("image", "target", "prediction"), strict=True
        ):
            ax.imshow(panel)
            ax.set_title(title)
            ax.axis("off")
    fig.tight_layout()
    return fig


# a line: its label and, per point, x, mean and standard deviation
Series = tuple[str, Sequence[Any], Sequence[float], Sequence[float]]


def sweep_figure(panels: Sequence[tuple[str | None, Sequence[Series]]], metric: str) -> Figure:
    """One panel per numeric swept parameter (``None``: configurations side by side, no line
    between them, as categories have no order), error bars one standard deviation."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (key, lines) in zip(axes[0], panels, strict=True):
        for label, xs, means, stds in lines:
            style = "-" if key else "none"
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, linestyle=style, label=label)
        ax.set_xlabel(key or "configuration")
        ax.set_ylabel(metric)
        if key is None:
            plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
        elif len(lines) > 1:
            ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def trials_figure(study: Any, metric: str) -> Figure:
    """The objective per epoch of every Optuna trial (its reported intermediate values), pruned
    trials dashed."""
    from optuna.trial import TrialState

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {TrialState.COMPLETE: "-", TrialState.PRUNED: "--"}
    for trial in study.get_trials(deepcopy=False):
        steps = sorted(trial.intermediate_values)
        if not steps:
            continue
        values = [trial.intermediate_values[s] for s in steps]
        ax.plot([s + 1 for s in steps], values, styles.get(trial.state, ":"), marker=".",
                alpha=0.8, label=f"{trial.number} {trial.state.name.lower()}")  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{study.study_name}: {metric} per epoch (dashed: pruned)")
    ax.grid(alpha=0.3)
    if len(ax.lines) <= 20:
        ax.legend(fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig


def mean_band_figure(series: Sequence[Series], labels: Mapping[str, str]) -> Figure:
    """Per epoch, each line's mean with a band of one standard deviation; ``labels`` gives the
    axes' ``xlabel``, ``ylabel`` and ``title``."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 5))
    for label, epochs, means, sds in series:
        (line,) = ax.plot(epochs, means, marker="o", markersize=3, label=label)
        lows = [m - s for m, s in zip(means, sds, strict=True)]
        highs = [m + s for m, s in zip(means, sds, strict=True)]
        ax.fill_between(epochs, lows, highs, color=line.get_color(), alpha=0.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(**labels)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig

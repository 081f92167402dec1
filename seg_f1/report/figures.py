"""Figures of one run: curves, per-class F1, the confusion matrix and prediction overlays.

Every function returns a matplotlib Figure (Agg, no display) so callers can save it or hand it
to TensorBoard.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from seg_f1.palette import overlay  # noqa: E402


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

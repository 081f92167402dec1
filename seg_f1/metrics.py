"""F1 the way face-parsing papers report it: one confusion matrix accumulated over a split.

Per class ``F1_c = 2TP / (2TP + FP + FN)``; the summary ``f1`` is the mean over the foreground
classes that occur in the target or the prediction. Never averaged per image or per batch, and
pixels labelled ``ignore_index`` count nowhere. ``torchmetrics`` does the accumulation (one
``bincount`` for training and evaluation alike), so the matrix is summed across DDP ranks before
any F1 is computed. Every per-class number a report shows comes from :func:`per_class_rows`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics.classification import MulticlassConfusionMatrix


def f1_from_confusion(confmat: Tensor, ignore_background: bool = True) -> tuple[Tensor, float]:
    """Per-class F1 and its mean from a ``[C, C]`` matrix (rows: target, columns: prediction).

    A class absent from both target and prediction has no F1: its entry is NaN and it is left
    out of the mean, so a split without hats neither helps nor hurts. Class 0 is background and
    is left out of the mean when ``ignore_background``. The mean is 0.0 when no class remains.
    """
    confmat = confmat.double()
    tp = confmat.diagonal()
    denominator = confmat.sum(0) + confmat.sum(1)  # (TP+FP) + (TP+FN)
    per_class = torch.where(denominator > 0, 2 * tp / denominator, torch.nan)
    counted = per_class[1:] if ignore_background else per_class
    counted = counted[~counted.isnan()]
    mean = counted.mean().item() if counted.numel() else 0.0
    return per_class.float(), mean


def per_class_rows(confmat: Tensor, class_names: Sequence[str]) -> list[dict]:
    """Per class: pixel share of the target, precision, recall, F1, IoU (NaN where undefined)."""
    confmat = confmat.double()
    tp = confmat.diag()
    support, predicted = confmat.sum(1), confmat.sum(0)
    per_class_f1, _ = f1_from_confusion(confmat, ignore_background=True)
    rows = []
    for i, name in enumerate(class_names):
        rows.append(
            {
                "index": i,
                "class": name,
                "pixel_share": (support[i] / support.sum().clamp(min=1)).item(),
                "precision": _ratio(tp[i], predicted[i]),
                "recall": _ratio(tp[i], support[i]),
                "f1": per_class_f1[i].item(),
                "iou": _ratio(tp[i], support[i] + predicted[i] - tp[i]),
            }
        )
    return rows


def _ratio(numerator: Tensor, denominator: Tensor) -> float:
    return (numerator / denominator).item() if denominator > 0 else math.nan


def summary_rows(confmat: Tensor, class_names: Sequence[str]) -> list[dict]:
    """Per-class rows plus the foreground mean of each column (NaN classes left out)."""
    rows = per_class_rows(confmat, class_names)
    mean = {"index": "", "class": "mean (foreground)", "pixel_share": math.nan}
    for key in ("precision", "recall", "f1", "iou"):
        values = [row[key] for row in rows[1:] if not math.isnan(row[key])]
        mean[key] = sum(values) / len(values) if values else math.nan
    return [*rows, mean]


class ConfusionMatrix(MulticlassConfusionMatrix):
    """Accumulates ``argmax(logits)`` against the target over a whole split."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        super().__init__(num_classes=num_classes, ignore_index=ignore_index, validate_args=False)

    def update(self, logits: Tensor, target: Tensor) -> None:  # type: ignore[override]
        """``logits`` [B, C, H, W], or class indices [B, H, W] already chosen (a mask built in
        bands, with no full-size logits)."""
        chosen = logits if logits.dim() == target.dim() else logits.detach().argmax(dim=1)
        super().update(chosen, target)

    def f1(self, ignore_background: bool = True) -> tuple[Tensor, float]:
        return f1_from_confusion(self.compute(), ignore_background)

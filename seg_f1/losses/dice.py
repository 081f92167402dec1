"""Soft multiclass Dice: the differentiable stand-in for per-class F1."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from seg_f1.losses.base import (
    ClassWeights,
    SegmentationLoss,
    check_number,
    class_weight_buffer,
    mean_over_classes,
    one_hot_valid,
)


@dataclass(frozen=True)
class SoftCounts:
    """Per-class soft confusion counts ``[C]`` over a batch, ignored pixels excluded."""

    true_positive: Tensor  # sum p_c * g_c
    predicted: Tensor  # sum p_c  (= TP + FP)
    actual: Tensor  # sum g_c  (= TP + FN); > 0 exactly for the classes present in the target

    @property
    def false_positive(self) -> Tensor:
        return self.predicted - self.true_positive

    @property
    def false_negative(self) -> Tensor:
        return self.actual - self.true_positive


def soft_counts(logits: Tensor, target: Tensor, ignore_index: int) -> SoftCounts:
    """Softmax the logits and sum soft TP, predicted and actual mass per class over the batch."""
    probs = logits.softmax(dim=1)
    one_hot, valid = one_hot_valid(target, probs.shape[1], ignore_index)
    probs = probs * valid
    dims = (0, *range(2, probs.dim()))
    return SoftCounts(
        true_positive=(probs * one_hot).sum(dims),
        predicted=probs.sum(dims),
        actual=one_hot.sum(dims),
    )


class DiceLoss(SegmentationLoss):
    """Soft Dice loss averaged over the classes present in the batch target.

    ``Dice_c = (2 * sum p_c g_c + smooth) / max(sum p_c + sum g_c + smooth, eps)``, sums over all
    non-ignored pixels of the batch, ``p = softmax(logits)`` and ``g`` the one-hot target.
    ``loss = 1 - sum_c w_c Dice_c / sum_c w_c`` over the classes ``c`` present in the target
    (``w = 1`` without class weights). Absent classes are left out rather than scored 0 or 1, so
    a batch without earrings does not dilute the mean; with no class present the loss is 0.

    With hard predictions ``Dice_c`` is exactly the F1 of class c, ``2TP / (2TP + FP + FN)``.

    Shapes: ``logits [N, C, H, W]`` float, ``target [N, H, W]`` int64; returns a scalar.

    Args:
        smooth: added to numerator and denominator; 0 keeps Dice equal to soft F1.
        eps: floor of the denominator, so an all-ignored batch cannot divide by zero.
        ignore_index: target value of pixels that count nowhere.
        class_weights: per-class weights ``[C]`` of the mean, or None for equal weights.
        include_background: if False, class 0 is left out of the mean (the F1 that face-parsing
            papers report averages the foreground classes only).
    """

    def __init__(
        self,
        smooth: float = 0.0,
        eps: float = 1e-7,
        ignore_index: int = 255,
        class_weights: ClassWeights = None,
        include_background: bool = True,
    ) -> None:
        super().__init__(ignore_index)
        check_number("smooth", smooth, ">= 0")
        check_number("eps", eps, "> 0")
        class_weight_buffer(self, class_weights)
        self.smooth = smooth
        self.eps = eps
        self.include_background = include_background

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        counts = soft_counts(logits, target, self.ignore_index)
        numerator = 2 * counts.true_positive + self.smooth
        denominator = (counts.predicted + counts.actual + self.smooth).clamp_min(self.eps)
        present = counts.actual > 0
        if not self.include_background:
            present[0] = False
        return mean_over_classes(1 - numerator / denominator, present, self.class_weights)

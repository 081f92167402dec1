"""Tversky loss: Dice with separate prices for false positives and false negatives."""

from __future__ import annotations

from torch import Tensor

from seg_f1.losses.base import (
    ClassWeights,
    SegmentationLoss,
    check_number,
    class_weight_buffer,
    mean_over_classes,
)
from seg_f1.losses.dice import soft_counts

# Floor of the denominator; only reached when a class gets no mass and alpha or beta is 0.
_EPS = 1e-7


class TverskyLoss(SegmentationLoss):
    """Tversky loss averaged over the classes present in the batch target.

    ``T_c = (TP_c + smooth) / max(TP_c + alpha * FP_c + beta * FN_c + smooth, eps)`` with soft
    counts ``TP_c = sum p_c g_c``, ``FP_c = sum p_c (1 - g_c)``, ``FN_c = sum (1 - p_c) g_c`` over
    the non-ignored pixels of the batch, ``p = softmax(logits)``, ``g`` the one-hot target.
    ``loss = 1 - sum_c w_c T_c / sum_c w_c`` over the present classes (0 if none is present).

    ``alpha = beta = 0.5`` gives Dice. Raise ``beta`` when recall is low, ``alpha`` when
    precision is low. A soft F-beta (recall ``b`` times as important as precision) is
    ``alpha = 1 / (1 + b**2)``, ``beta = b**2 / (1 + b**2)``: e.g. F2 is alpha=0.2, beta=0.8.

    Shapes: ``logits [N, C, H, W]`` float, ``target [N, H, W]`` int64; returns a scalar.

    Args:
        alpha: weight of the false positives, >= 0.
        beta: weight of the false negatives, >= 0; ``alpha + beta > 0``.
        smooth: added to numerator and denominator; 0 keeps the F-beta reading exact.
        ignore_index: target value of pixels that count nowhere.
        class_weights: per-class weights ``[C]`` of the mean, or None for equal weights.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        beta: float = 0.5,
        smooth: float = 0.0,
        ignore_index: int = 255,
        class_weights: ClassWeights = None,
    ) -> None:
        super().__init__(ignore_index)
        for name, value in (("alpha", alpha), ("beta", beta), ("smooth", smooth)):
            check_number(name, value, ">= 0")
        if not alpha + beta > 0:
            raise ValueError(
                f"alpha + beta must be > 0, got alpha={alpha}, beta={beta}: with both 0 no error "
                "costs anything and the loss is constant"
            )
        class_weight_buffer(self, class_weights)
        self.alpha = alpha
        self.beta = beta
        self.smooth = smooth

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        counts = soft_counts(logits, target, self.ignore_index)
        tp = counts.true_positive
        denominator = tp + self.alpha * counts.false_positive + self.beta * counts.false_negative
        tversky = (tp + self.smooth) / (denominator + self.smooth).clamp_min(_EPS)
        return mean_over_classes(1 - tversky, counts.actual > 0, self.class_weights)

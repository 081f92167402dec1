"""Weighted cross-entropy: the pixel-accuracy backbone of every composite."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from seg_f1.losses.base import ClassWeights, SegmentationLoss, class_weight_buffer, split_ignored


class CELoss(SegmentationLoss):
    """Cross-entropy averaged over the non-ignored pixels, optionally class-weighted.

    ``CE = sum_i w[t_i] * ce_i / sum_i w[t_i]`` over pixels ``i`` whose target ``t_i`` is not
    ``ignore_index``, where ``ce_i = -log softmax(logits_i)[t_i]`` (with label smoothing,
    ``ce_i`` mixes in ``label_smoothing`` times the mean of ``-log p`` over all classes) and
    ``w = 1`` without class weights. This is ``F.cross_entropy(reduction='mean')``, except that a
    batch with every pixel ignored gives 0 instead of NaN.

    Shapes: ``logits [N, C, H, W]`` float, ``target [N, H, W]`` int64; returns a scalar.

    Args:
        class_weights: per-class weights ``[C]`` (tensor or list), or None for plain CE.
        ignore_index: target value of pixels that count nowhere.
        label_smoothing: in [0, 1); the share of the target mass spread evenly over all classes.
            At 1 the target no longer says which class is right; above 0.5 the right class gets
            less than half of it, which is warned about.
    """

    def __init__(
        self,
        class_weights: ClassWeights = None,
        ignore_index: int = 255,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(ignore_index)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if label_smoothing > 0.5:
            warnings.warn(
                f"label_smoothing={label_smoothing} leaves the right class less than half of the "
                "target mass; values of 0.05-0.2 are usual",
                stacklevel=2,
            )
        class_weight_buffer(self, class_weights)
        self.label_smoothing = label_smoothing

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        total = F.cross_entropy(
            logits,
            target,
            weight=self.class_weights,
            ignore_index=self.ignore_index,
            reduction="sum",
            label_smoothing=self.label_smoothing,
        )
        safe_target, valid = split_ignored(target, self.ignore_index)
        if self.class_weights is None:
            norm = valid.sum()
        else:
            norm = (self.class_weights[safe_target] * valid).sum()
        return total / norm.clamp_min(torch.finfo(torch.float32).tiny)

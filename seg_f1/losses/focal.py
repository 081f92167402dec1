"""Softmax focal loss: cross-entropy that fades out the pixels the model already gets right."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from seg_f1.losses.base import ArgumentError, SegmentationLoss, check_number, split_ignored

# Floor of (1 - pt) before the power: d/dx x**gamma is infinite at 0 for gamma < 1, and
# ignored or perfectly classified pixels have x == 0 exactly; 0 * inf would turn the gradient NaN.
_MIN_MISS = 1e-12


def _check_alpha(alpha: Any, per_class: bool, num_classes: int | None) -> None:
    if not per_class:
        check_number("alpha", alpha, "in [0, 1]")
        return
    values = alpha.tolist() if isinstance(alpha, Tensor) else list(alpha)
    if num_classes is not None and len(values) != num_classes:
        raise ArgumentError(
            f"alpha has {len(values)} entries but the data has {num_classes} classes"
        )
    for index, value in enumerate(values):
        check_number(f"alpha[{index}]", value, "in [0, 1]")


class FocalLoss(SegmentationLoss):
    """Softmax focal loss (Lin et al. 2017) averaged over the non-ignored pixels.

    Per pixel: ``ce = CE(reduction='none')``, ``pt = exp(-ce)``,
    ``loss = alpha_t * (1 - pt)**gamma * ce``; the result is the mean over non-ignored pixels
    (0 if every pixel is ignored). ``alpha_t`` is ``alpha`` itself or, for a per-class list,
    ``alpha[target]``. ``alpha = 1, gamma = 0`` is plain cross-entropy.

    Unlike segmentation_models_pytorch's multiclass focal loss, which sums C sigmoid
    one-vs-rest terms, this is the softmax form, consistent with ``CELoss``.

    Shapes: ``logits [N, C, H, W]`` float, ``target [N, H, W]`` int64; returns a scalar.

    Args:
        alpha: a scale in [0, 1], or a list of C per-class scales in [0, 1].
        gamma: focusing exponent >= 0; larger values down-weight easy pixels more.
        ignore_index: target value of pixels that count nowhere.
        num_classes: the data's classes (``build_loss`` sets it), which a per-class ``alpha``
            must match; None leaves its length unchecked.
    """

    def __init__(
        self,
        alpha: float | Sequence[float] = 0.25,
        gamma: float = 2.0,
        ignore_index: int = 255,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(ignore_index)
        per_class = isinstance(alpha, Sequence | Tensor) and not isinstance(alpha, str)
        _check_alpha(alpha, per_class, num_classes)
        check_number("gamma", gamma, ">= 0")
        self.alpha = None if per_class else float(alpha)
        alpha_per_class = torch.as_tensor(alpha, dtype=torch.float32) if per_class else None
        self.register_buffer("alpha_per_class", alpha_per_class, persistent=False)
        self.gamma = gamma

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        ce = F.cross_entropy(logits, target, ignore_index=self.ignore_index, reduction="none")
        miss = (-torch.expm1(-ce)).clamp_min(_MIN_MISS)  # 1 - pt, accurate when pt is near 1
        focal = miss.pow(self.gamma) * ce
        safe_target, valid = split_ignored(target, self.ignore_index)
        if self.alpha_per_class is None:
            focal = self.alpha * focal
        else:
            focal = self.alpha_per_class[safe_target] * focal
        return focal.sum() / valid.sum().clamp_min(1)

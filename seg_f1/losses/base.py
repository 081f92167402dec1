"""What every seg_f1 loss shares: float32 compute, ignored pixels, per-class reductions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

ClassWeights = Tensor | Sequence[float] | None


class ArgumentError(ValueError):
    """A loss argument out of its range. The message starts with the argument's name, so
    ``build_loss`` can name the config key: ``loss.focal.gamma must be >= 0, got -0.5``."""


_BOUNDS: dict[str, Callable[[float], bool]] = {
    ">= 0": lambda x: x >= 0,
    "> 0": lambda x: x > 0,
    "in [0, 1]": lambda x: 0 <= x <= 1,
}


def check_number(name: str, value: Any, bound: str) -> None:
    """A finite real number within ``bound`` (a key of ``_BOUNDS``); bools are not numbers."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (is_number and math.isfinite(value) and _BOUNDS[bound](value)):
        raise ArgumentError(f"{name} must be {bound}, got {value!r}")


class SegmentationLoss(nn.Module):
    """Base for losses called as ``loss(logits[N, C, H, W], target[N, H, W] int64) -> scalar``.

    ``forward`` casts the logits to float32 (``loss_input``) and switches autocast off before
    ``compute``:
    softmax sums and log-probabilities in bf16 keep about three digits, which is not enough
    for a loss that is compared across steps. Subclasses implement ``compute`` only.

    Args:
        ignore_index: target value of pixels that count nowhere (default 255).
    """

    def __init__(self, ignore_index: int = 255) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        with torch.autocast(device_type=logits.device.type, enabled=False):
            return self.compute(loss_input(logits), target)

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError


def loss_input(logits: Tensor) -> Tensor:
    """The logits as every loss computes on them: float32, in the default (NCHW) layout.

    A network run with ``channels_last`` returns NHWC logits; Focal + Dice forward and backward
    ran 1.07-1.10x as long on those as on one NCHW copy (2 CPU cores, 8 x 19 x 64 x 64, copy
    included). A no-op on float32 NCHW logits, so a ``CompositeLoss`` converts once and its
    terms reuse it.
    """
    return logits.float().contiguous()


def class_weight_buffer(module: nn.Module, class_weights: ClassWeights) -> None:
    """Register ``class_weights`` as a non-persistent float32 buffer (it follows ``.to(device)``).

    Not persistent because the weights come from the config, not from training: a checkpoint
    must load whether or not the run that wrote it used class weights.
    """
    weights = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
    module.register_buffer("class_weights", weights, persistent=False)


def split_ignored(target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """Return ``(safe_target, valid)``: ignored pixels relabelled 0 so they can index."""
    valid = target != ignore_index
    return target.masked_fill(~valid, 0), valid


def one_hot_valid(target: Tensor, num_classes: int, ignore_index: int) -> tuple[Tensor, Tensor]:
    """One-hot ``[N, C, ...]`` float target, all-zero at ignored pixels, and the float valid mask.

    Built with ``scatter_`` into a float tensor: ``F.one_hot`` makes an int64 ``[..., C]`` tensor
    that then needs a permute and a cast, which costs more than the loss itself.
    """
    safe_target, valid = split_ignored(target, ignore_index)
    valid = valid.unsqueeze(1).float()
    shape = (target.shape[0], num_classes, *target.shape[1:])
    one_hot = valid.new_zeros(shape).scatter_(1, safe_target.unsqueeze(1), valid)
    return one_hot, valid


def mean_over_classes(per_class: Tensor, counted: Tensor, class_weights: Tensor | None) -> Tensor:
    """Weighted mean of ``per_class[C]`` over the classes where ``counted`` is true.

    With no counted class the result is 0 and still depends on ``per_class``, so the graph stays
    intact and the gradient is zero rather than NaN.
    """
    weights = counted.float()
    if class_weights is not None:
        weights = weights * class_weights
    return (weights * per_class).sum() / weights.sum().clamp_min(torch.finfo(torch.float32).tiny)

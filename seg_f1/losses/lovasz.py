"""Lovasz-Softmax: a convex surrogate that optimises per-class IoU directly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from seg_f1.losses.base import ArgumentError, SegmentationLoss, one_hot_valid


def lovasz_gradient(fg_sorted: Tensor) -> Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss at errors sorted descending.

    ``fg_sorted [..., P]`` is the 0/1 foreground in that order; the result is
    ``J_k - J_{k-1}`` with ``J_k = 1 - |fg \\ top_k| / |fg u top_k|`` the Jaccard loss of
    predicting the first k pixels (Berman et al. 2018, Alg. 1), along the last dim.
    """
    total = fg_sorted.sum(dim=-1, keepdim=True)
    intersection = total - fg_sorted.cumsum(dim=-1)
    union = total + (1 - fg_sorted).cumsum(dim=-1)
    jaccard = 1 - intersection / union
    return jaccard.diff(dim=-1, prepend=jaccard.new_zeros(*jaccard.shape[:-1], 1))


def _check_classes(classes: Any, num_classes: int | None) -> None:
    if isinstance(classes, str) and classes in ("present", "all"):
        return
    top = float("inf") if num_classes is None else num_classes
    valid = (
        isinstance(classes, Sequence)
        and not isinstance(classes, str)
        and len(classes) > 0
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < top for c in classes)
    )
    if not valid:
        indices = "class indices" if num_classes is None else f"class indices in [0, {top - 1}]"
        raise ArgumentError(
            f"classes must be 'present', 'all' or a non-empty list of {indices}, got {classes!r}"
        )


class LovaszSoftmaxLoss(SegmentationLoss):
    """Lovasz-Softmax loss of Berman, Triki and Blaschko (CVPR 2018).

    For each class c, with ``p = softmax(logits)`` and ``m_i = |[t_i = c] - p_ic|`` the pixel
    errors over the non-ignored pixels sorted so that ``m_(1) >= m_(2) >= ...``,
    ``loss_c = sum_k m_(k) * g_k`` where ``g`` is the Lovasz gradient of the Jaccard loss
    (``lovasz_gradient``). The loss is the mean of ``loss_c`` over the chosen classes. All classes
    are sorted in one batched ``torch.sort``; ignored pixels get error 0, which puts them last
    and leaves every term unchanged.

    The input is always logits (segmentation_models_pytorch's ``from_logits`` is not read by its
    Lovasz loss; here there is no such switch).

    Shapes: ``logits [N, C, H, W]`` float, ``target [N, H, W]`` int64; returns a scalar.

    Args:
        classes: ``'present'`` (mean over classes in the target), ``'all'``, or a list of class
            indices to average over.
        ignore_index: target value of pixels that count nowhere.
        per_image: if True, the loss is computed per image and averaged over the images that
            have a non-ignored pixel; if False, over the whole batch as one set of pixels.
        num_classes: the data's classes (``build_loss`` sets it), which listed ``classes`` must
            index; None leaves the upper bound unchecked.
    """

    def __init__(
        self,
        classes: str | Sequence[int] = "present",
        ignore_index: int = 255,
        per_image: bool = False,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(ignore_index)
        _check_classes(classes, num_classes)
        self.classes = classes if isinstance(classes, str) else [int(c) for c in classes]
        self.per_image = per_image

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        probs = logits.softmax(dim=1)
        fg, valid = one_hot_valid(target, probs.shape[1], self.ignore_index)
        probs, fg, valid = (self._groups(x) for x in (probs, fg, valid))  # [G, C or 1, P]
        errors = (fg - probs).abs() * valid
        errors_sorted, order = errors.sort(dim=-1, descending=True)
        grad = lovasz_gradient(fg.gather(-1, order))
        per_class = (errors_sorted * grad).sum(dim=-1)  # [G, C]
        chosen = self._chosen(fg)
        per_group = (per_class * chosen).sum(-1) / chosen.sum(-1).clamp_min(1)
        has_pixels = valid.flatten(1).any(dim=1).float()
        return (per_group * has_pixels).sum() / has_pixels.sum().clamp_min(1)

    def _groups(self, x: Tensor) -> Tensor:
        """``[N, K, H, W]`` -> ``[G, K, P]``: one group per image, or one for the whole batch."""
        if self.per_image:
            return x.flatten(2)
        return x.transpose(0, 1).flatten(1).unsqueeze(0)

    def _chosen(self, fg: Tensor) -> Tensor:
        """``[G, C]`` float mask of the classes averaged over in each group."""
        if self.classes == "present":
            return (fg.sum(dim=-1) > 0).float()
        if self.classes == "all":
            return fg.new_ones(fg.shape[:2])
        chosen = fg.new_zeros(fg.shape[:2])
        chosen[:, self.classes] = 1
        return chosen

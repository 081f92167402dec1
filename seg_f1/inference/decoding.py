"""The decision rule for F1: a weighted argmax, ``argmax_c(log p_c + b_c)``, with one offset per
class tuned on validation pixels.

Argmax maximises pixel accuracy; for F1-type metrics the optimal rule weights the class
probabilities, so a small class can win a pixel at a lower probability than skin or hair (Ye et
al. 2012; Narasimhan et al. 2015). The offsets are found by coordinate ascent on the project's F1
(one confusion matrix, foreground mean), and guarded against fitting noise: the share of them kept
is chosen by cross-validation over images, so offsets that do not carry to held-out images shrink
to 0 (argmax). Background's offset stays 0: adding a constant to every class changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from seg_f1.inference.rules import OFFSET_LIMIT, shifted
from seg_f1.metrics import f1_from_confusion

SHRINKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def decode(scores: Tensor, offsets: Tensor | None = None, dim: int = 1) -> Tensor:
    """Class indices from logits or log-probabilities (the same argmax either way: softmax only
    subtracts one value per pixel), each class's ``offsets`` added first."""
    return shifted(scores, offsets, dim).argmax(dim)


def weighted_confusion(target: Tensor, pred: Tensor, weight: Tensor, num_classes: int) -> Tensor:
    """``[C, C]`` matrix (rows: target) where each pixel counts ``weight`` times."""
    index = target * num_classes + pred
    counts = torch.bincount(index, weights=weight, minlength=num_classes * num_classes)
    return counts.view(num_classes, num_classes)


@dataclass
class Pixels:
    """A sample of pixels: log-probabilities ``[n, C]``, targets, weights (how many pixels of the
    split each stands for) and the image each came from (for folds)."""

    logp: Tensor
    target: Tensor
    weight: Tensor
    image: Tensor

    def subset(self, keep: Tensor) -> Pixels:
        return Pixels(self.logp[keep], self.target[keep], self.weight[keep], self.image[keep])

    def confusion(self, offsets: Tensor | None) -> Tensor:
        pred = decode(self.logp, offsets)
        return weighted_confusion(self.target, pred, self.weight, self.logp.shape[1])

    def f1(self, offsets: Tensor | None) -> float:
        return f1_from_confusion(self.confusion(offsets))[1]


def tune_offsets(
    pixels: Pixels,
    steps: tuple[float, ...] = (1.0, 0.5, 0.25),
    span: int = 4,
    limit: float = OFFSET_LIMIT,
) -> Tensor:
    """Coordinate ascent: for each foreground class in turn, the offset among ``span`` steps
    either side of its current value (within ``±limit``) that gives the highest F1; then a
    smaller step. Only a strict gain moves an offset, so the result's F1 on ``pixels`` is never
    below argmax's (offsets 0 are where it starts)."""
    num_classes = pixels.logp.shape[1]
    offsets = torch.zeros(num_classes, dtype=pixels.logp.dtype)
    best = pixels.f1(offsets)
    support = torch.bincount(pixels.target, pixels.weight, minlength=num_classes)
    for step in steps:
        for c in range(1, num_classes):
            candidates = (offsets[c] + step * torch.arange(-span, span + 1)).clamp(-limit, limit)
            candidates = candidates.unique()
            scores = candidate_f1(pixels, offsets, c, candidates, support)
            top = int(scores.argmax())
            if scores[top] > best + 1e-12:
                best, offsets[c] = scores[top].item(), candidates[top]
    return offsets


def candidate_f1(
    pixels: Pixels, offsets: Tensor, c: int, candidates: Tensor, support: Tensor
) -> Tensor:
    """F1 with class ``c``'s offset at each of the (ascending) ``candidates``, the others fixed.

    Class ``c`` wins a pixel when its offset exceeds the pixel's margin (the best other score
    minus its own), so a pixel whose margin lies below candidate ``j`` is won from ``j`` on:
    a few weighted counts per (first winning candidate, other class), summed cumulatively,
    give every candidate's diagonal and column sums, with no confusion matrix per candidate."""
    num_classes, count = pixels.logp.shape[1], candidates.numel()
    others = pixels.logp + offsets
    others[:, c] = -torch.inf
    other_max, other_pred = others.max(1)
    margin = other_max - pixels.logp[:, c]
    first_win = torch.searchsorted(candidates.to(margin.dtype).contiguous(), margin, right=True)
    weight, hit = pixels.weight, pixels.weight * (pixels.target == other_pred)

    def cumulative(index: Tensor, values: Tensor, width: int) -> Tensor:
        counts = torch.bincount(index, values, minlength=(count + 1) * width)
        return counts.view(count + 1, width).cumsum(0)[:count]

    # c wins nowhere: every pixel takes its best other class; then c takes the won pixels
    predicted = torch.bincount(other_pred, weight, minlength=num_classes) - cumulative(
        first_win * num_classes + other_pred, weight, num_classes
    )
    true_pos = torch.bincount(other_pred, hit, minlength=num_classes) - cumulative(
        first_win * num_classes + other_pred, hit, num_classes
    )
    predicted[:, c] = cumulative(first_win, weight, 1)[:, 0]
    true_pos[:, c] = cumulative(first_win, weight * (pixels.target == c), 1)[:, 0]
    return mean_f1(true_pos, predicted, support[None])


def mean_f1(true_pos: Tensor, predicted: Tensor, support: Tensor) -> Tensor:
    """:func:`seg_f1.metrics.f1_from_confusion`'s mean from the matrix's diagonal and sums, for
    each row of ``[K, C]`` counts."""
    denominator = (predicted + support)[:, 1:]
    defined = denominator > 0
    f1 = torch.where(defined, 2 * true_pos[:, 1:] / denominator.clamp_min(1e-300), 0.0)
    return f1.sum(1) / defined.sum(1).clamp_min(1)


@dataclass
class Tuning:
    """What calibration found: the offsets kept, the share of the tuned ones kept, and F1."""

    offsets: Tensor
    shrink: float
    held_out_f1: dict[float, float]  # share kept -> F1 of images the offsets were not tuned on
    f1_argmax: float  # on all the sampled pixels
    f1_tuned: float


def cross_validated_offsets(pixels: Pixels, folds: int = 5, **search) -> Tuning:
    """Offsets tuned on all pixels, scaled by the share (``SHRINKS``) that scores best on
    held-out images: each fold's offsets are tuned on the other folds' images and scored on its
    own, the held-out matrices summed into one. A share that loses to argmax on the tuning pixels
    is not kept (0 is always a candidate)."""
    fold_of = pixels.image % folds
    held_out = {share: 0 for share in SHRINKS}
    for k in range(min(folds, int(pixels.image.max()) + 1)):
        train, test = pixels.subset(fold_of != k), pixels.subset(fold_of == k)
        if train.target.numel() == 0 or test.target.numel() == 0:
            continue
        fold_offsets = tune_offsets(train, **search)
        for share in SHRINKS:
            held_out[share] = held_out[share] + test.confusion(share * fold_offsets)
    if all(isinstance(m, int) for m in held_out.values()):  # one image: nothing to hold out
        held_out_f1, share = {}, 0.0
    else:
        held_out_f1 = {share: f1_from_confusion(m)[1] for share, m in held_out.items()}
        share = max(SHRINKS, key=lambda s: (round(held_out_f1[s], 9), -s))
    tuned = tune_offsets(pixels, **search)
    f1_argmax = pixels.f1(None)
    kept = share * tuned
    f1_kept = pixels.f1(kept)
    if f1_kept < f1_argmax:
        share, kept, f1_kept = 0.0, torch.zeros_like(tuned), f1_argmax
    return Tuning(kept, share, held_out_f1, f1_argmax, f1_kept)

"""A bounded sample of a split's pixels for tuning decision offsets, every class represented.

CelebAMask-HQ's validation split at 512 px has about 500 M pixels; the offsets need a few
hundred thousand per class. Each class keeps at most ``max_pixels / classes`` pixels, drawn
uniformly from all of its pixels in one pass (the smallest random keys win), and each kept pixel
carries the weight ``pixels of its class / pixels kept``, so the weighted confusion matrix
estimates the split's own. A class with fewer pixels than its share is kept whole (weight 1).
"""

from __future__ import annotations

import torch
from torch import Tensor

from seg_f1.inference.decoding import Pixels

MAX_PIXELS = 2_000_000


class PixelSample:
    def __init__(
        self, num_classes: int, max_pixels: int = MAX_PIXELS, ignore_index: int = 255, seed: int = 0
    ) -> None:
        if max_pixels < num_classes:
            raise ValueError(f"max_pixels={max_pixels}: needs at least one pixel per class")
        self.num_classes = num_classes
        self.per_class = max_pixels // num_classes
        self.ignore_index = ignore_index
        self.generator = torch.Generator().manual_seed(seed)
        self.seen = torch.zeros(num_classes, dtype=torch.float64)
        # per class: (random keys, log-probability rows, image indices) not yet cut to the quota
        self.pending: list[list[tuple[Tensor, Tensor, Tensor]]] = [[] for _ in range(num_classes)]
        self.pending_rows = [0] * num_classes

    def add(self, probs: Tensor, target: Tensor, image: int) -> None:
        """``probs``: ``[C, H, W]`` probabilities of one image; ``target``: its ``[H, W]`` mask."""
        logp = probs.float().clamp_min(1e-12).log().flatten(1).T  # [H*W, C]
        target = target.flatten().long()
        for c in target.unique().tolist():
            if c == self.ignore_index or not 0 <= c < self.num_classes:
                continue
            rows = logp[target == c]
            self.seen[c] += rows.shape[0]
            keys = torch.rand(rows.shape[0], generator=self.generator)
            self.pending[c].append((keys, rows, torch.full((rows.shape[0],), image)))
            self.pending_rows[c] += rows.shape[0]
            if self.pending_rows[c] > 2 * self.per_class:  # cut in batches: linear, not quadratic
                self._cut(c)

    def _cut(self, c: int) -> tuple[Tensor, Tensor, Tensor]:
        """Class ``c``'s pending pixels merged and cut to the ``per_class`` smallest keys."""
        keys, rows, images = (torch.cat(parts) for parts in zip(*self.pending[c], strict=True))
        if keys.numel() > self.per_class:
            keep = keys.topk(self.per_class, largest=False).indices
            keys, rows, images = keys[keep], rows[keep], images[keep]
        self.pending[c], self.pending_rows[c] = [(keys, rows, images)], keys.numel()
        return keys, rows, images

    def pixels(self) -> Pixels:
        logps, targets, weights, images = [], [], [], []
        for c in range(self.num_classes):
            if not self.pending[c]:
                continue
            _, rows, image = self._cut(c)
            logps.append(rows)
            targets.append(torch.full((rows.shape[0],), c, dtype=torch.long))
            weights.append(torch.full((rows.shape[0],), self.seen[c].item() / rows.shape[0]))
            images.append(image)
        if not logps:
            raise ValueError("no labelled pixel to tune decision offsets on")
        return Pixels(
            torch.cat(logps), torch.cat(targets), torch.cat(weights).double(), torch.cat(images)
        )

"""Augmentation that knows faces have sides, plus the fixed resize/normalise step."""

from __future__ import annotations

import os
from collections.abc import Sequence

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations checks PyPI on import

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402


def swap_lut(flip_pairs: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """A 256-entry label lookup that exchanges each left/right pair and keeps the rest."""
    lut = np.arange(256, dtype=np.uint8)
    for left, right in flip_pairs:
        for name in (left, right):
            if name not in classes:
                raise ValueError(f"data.flip_pairs names {name!r}, which is not in data.classes")
        i, j = classes.index(left), classes.index(right)
        lut[i], lut[j] = j, i
    return lut


class PairedHorizontalFlip(A.DualTransform):
    """Mirror the image and swap left/right labels, so a flipped left eye stays a left eye."""

    def __init__(
        self, flip_pairs: Sequence[Sequence[str]], classes: Sequence[str], p: float = 0.5
    ) -> None:
        super().__init__(p=p)
        self.flip_pairs = [list(pair) for pair in flip_pairs]
        self.classes = list(classes)
        self.lut = swap_lut(self.flip_pairs, self.classes)

    def apply(self, img: np.ndarray, **params) -> np.ndarray:
        return cv2.flip(img, 1)  # a contiguous copy, several times faster than numpy's

    def apply_to_mask(self, mask: np.ndarray, **params) -> np.ndarray:
        return cv2.LUT(cv2.flip(mask, 1), self.lut)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("flip_pairs", "classes")

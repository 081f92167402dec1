"""How many pixels each class covers in a set of index masks: what class weights and the
dataset report are computed from. Masks are read and checked as training reads them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import track

from seg_f1.data.dataset import check_mask_values, read_mask
from seg_f1.data.label_colors import LabelColors


@dataclass(frozen=True)
class ClassCounts:
    """Pixel statistics of a set of index masks, ignored pixels excluded.

    Attributes:
        pixels: ``[C]`` int64, pixels labelled c.
        image_pixels: ``[C]`` int64, non-ignored pixels of the images that contain c.
        images_with_class: ``[C]`` int64, images that contain c.
        num_images: number of masks counted.
    """

    pixels: np.ndarray
    image_pixels: np.ndarray
    images_with_class: np.ndarray
    num_images: int

    @property
    def frequency(self) -> np.ndarray:
        """Share of all non-ignored pixels labelled c."""
        return self.pixels / max(int(self.pixels.sum()), 1)


def count_pixels(
    mask_paths: Sequence[Path],
    num_classes: int,
    ignore_index: int = 255,
    progress: bool = True,
    colors: LabelColors | None = None,
) -> ClassCounts:
    """Count labelled pixels per class over index masks (pixel value = class index), or over
    colour-coded label images read through ``colors``.

    Raises:
        ValueError: naming the file, for a mask that ``read_mask`` or ``check_mask_values``
            rejects (not one channel, unreadable, a value that is neither a class index nor
            ``ignore_index``).
    """
    pixels = np.zeros(num_classes, dtype=np.int64)
    image_pixels = np.zeros(num_classes, dtype=np.int64)
    images_with_class = np.zeros(num_classes, dtype=np.int64)
    for path in track(mask_paths, description="Counting pixels", disable=not progress):
        mask = read_mask(path, colors=colors)
        check_mask_values(mask, num_classes, ignore_index, path)
        labels = mask[mask != ignore_index].astype(np.int64)
        counts = np.bincount(labels, minlength=num_classes)
        present = counts > 0
        pixels += counts
        image_pixels[present] += labels.size
        images_with_class += present
    return ClassCounts(pixels, image_pixels, images_with_class, len(mask_paths))

"""Pixel counting reads masks as training does, so it rejects what training rejects."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from seg_f1.data.pixel_counts import count_pixels


def test_a_colour_mask_is_rejected_naming_the_file(tmp_path):
    path = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(path)
    with pytest.raises(ValueError, match=r"rgb\.png: mask has mode RGB .*single-channel"):
        count_pixels([path], num_classes=3, progress=False)


def test_a_16_bit_value_is_not_wrapped_into_a_class(tmp_path):
    """273 cast to uint8 would count as class 17."""
    path = tmp_path / "wide.png"
    Image.fromarray(np.array([[0, 273]], np.uint16)).save(path)
    with pytest.raises(ValueError, match=r"wide\.png: mask value 273 does not fit in 8 bits"):
        count_pixels([path], num_classes=19, progress=False)


def test_counts_per_class_skip_ignored_pixels(tmp_path):
    path = tmp_path / "m.png"
    Image.fromarray(np.array([[0, 2, 2], [255, 2, 0]], np.uint8)).save(path)
    counts = count_pixels([path], num_classes=3, progress=False)
    assert counts.pixels.tolist() == [2, 0, 3]
    assert counts.image_pixels.tolist() == [5, 0, 5]
    assert counts.images_with_class.tolist() == [1, 0, 1]

"""A fixed face-parsing palette: a class keeps its colour whatever the dataset's label order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NAMED = {
    "background": (0, 0, 0),
    "skin": (204, 102, 51),
    "nose": (255, 153, 51),
    "eye_g": (0, 204, 204),
    "l_eye": (51, 51, 255),
    "r_eye": (204, 0, 255),
    "l_brow": (255, 255, 0),
    "r_brow": (153, 153, 0),
    "l_ear": (102, 255, 102),
    "r_ear": (0, 153, 0),
    "mouth": (102, 0, 0),
    "inner_mouth": (102, 0, 0),
    "u_lip": (255, 0, 102),
    "l_lip": (153, 0, 51),
    "hair": (102, 51, 0),
    "hat": (255, 204, 204),
    "ear_r": (0, 255, 255),
    "neck_l": (153, 204, 255),
    "neck": (255, 153, 153),
    "cloth": (0, 102, 153),
}
IGNORE_COLOUR = (255, 255, 255)


def palette(class_names: Sequence[str]) -> np.ndarray:
    """[C, 3] uint8 colours; a class the table lacks gets a colour seeded by its name."""
    colours = []
    for name in class_names:
        if name in NAMED:
            colours.append(NAMED[name])
        else:
            seed = sum(name.encode()) * 7919
            colours.append(tuple(int(c) for c in np.random.default_rng(seed).integers(0, 256, 3)))
    return np.asarray(colours, dtype=np.uint8)


def colourise(mask: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """[H, W] class indices -> [H, W, 3] RGB; any index outside the classes (255) is white."""
    colours = np.vstack([palette(class_names), np.asarray([IGNORE_COLOUR], dtype=np.uint8)])
    index = np.where(mask < len(class_names), mask, len(class_names))
    return colours[index]


def overlay(image: np.ndarray, mask: np.ndarray, class_names: Sequence[str], alpha=0.5):
    """The RGB ``image`` (uint8) blended with the coloured mask; background stays the photo."""
    coloured = colourise(mask, class_names).astype(np.float32)
    blend = (1 - alpha) * image.astype(np.float32) + alpha * coloured
    keep = (mask == 0)[..., None]
    return np.where(keep, image, blend.round()).astype(np.uint8)

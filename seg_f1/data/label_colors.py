"""Colour-coded label images (LFW Part Labels, ELFW, CamVid, Cityscapes' colour files): each
class painted in one RGB colour. ``data.label_colors`` maps class names to colours, and a label
image is turned into an index mask in one vectorised pass at load time (RGB packed into one
integer, then a sorted lookup), so the dataset stays as it was downloaded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

KEY = "data.label_colors"
SHOWN_COLOURS = 5  # unknown colours named in an error


def packed(rgb: np.ndarray) -> np.ndarray:
    """``[..., 3]`` uint8 -> one int32 per pixel, ``r << 16 | g << 8 | b``."""
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


@dataclass(frozen=True)
class LabelColors:
    """Sorted packed colours and the class index of each (hashable: samples carry it)."""

    colours: tuple[int, ...]
    indices: tuple[int, ...]

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Sequence[int]], class_names: Sequence[str]
    ) -> LabelColors:
        """``{class: [r, g, b]}`` for every class; a class without a colour, a name that is no
        class, a colour outside 0..255 or one colour for two classes is refused by key."""
        names = list(class_names)
        unknown = sorted(set(mapping) - set(names))
        missing = [name for name in names if name not in mapping]
        if unknown or missing:
            raise ValueError(
                f"{KEY} must give one colour to each of data.classes {names}: "
                + "; ".join(
                    part
                    for part in (
                        f"no such class {unknown}" if unknown else "",
                        f"no colour for {missing}" if missing else "",
                    )
                    if part
                )
            )
        by_colour: dict[int, str] = {}
        for name in names:
            rgb = list(mapping[name])
            if len(rgb) != 3 or any(not 0 <= int(v) <= 255 for v in rgb):
                raise ValueError(f"{KEY}.{name}={rgb}: expected [r, g, b], each 0..255")
            colour = int(packed(np.array(rgb, np.uint8)))
            if colour in by_colour:
                raise ValueError(f"{KEY}: {by_colour[colour]} and {name} share the colour {rgb}")
            by_colour[colour] = name
        order = sorted(by_colour)
        return cls(tuple(order), tuple(names.index(by_colour[c]) for c in order))

    def index_mask(self, rgb: np.ndarray, path) -> np.ndarray:
        """``[H, W, 3]`` uint8 label image -> ``[H, W]`` uint8 class indices; a pixel of any
        other colour (anti-aliasing, a JPEG-saved label) is refused naming the file."""
        codes = packed(rgb)
        table = np.asarray(self.colours, np.int32)
        at = np.clip(np.searchsorted(table, codes), 0, len(table) - 1)
        unknown = table[at] != codes
        if unknown.any():
            raise ValueError(f"{path}: {self._describe(codes[unknown])} not in {KEY}")
        return np.asarray(self.indices, np.uint8)[at]

    def _describe(self, codes: np.ndarray) -> str:
        values, counts = np.unique(codes, return_counts=True)
        pairs = zip(values[:SHOWN_COLOURS].tolist(), counts[:SHOWN_COLOURS].tolist(), strict=True)
        shown = ", ".join(f"({v >> 16}, {(v >> 8) & 255}, {v & 255}) x{n}" for v, n in pairs)
        more = f" and {len(values) - SHOWN_COLOURS} more" if len(values) > SHOWN_COLOURS else ""
        return f"{int(counts.sum())} pixels of colours {shown}{more}"


def label_colors(
    mapping: Mapping[str, Sequence[int]] | None, class_names: Sequence[str]
) -> LabelColors | None:
    """``data.label_colors`` as the datamodule takes it: null means index masks."""
    return None if mapping is None else LabelColors.from_mapping(mapping, class_names)

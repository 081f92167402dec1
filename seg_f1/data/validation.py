"""Setup-time checks of a split's files, so a bad file stops the run before the first epoch."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from seg_f1.data.dataset import MASK_SIZES, check_mask_size, check_mask_values, open_mask, read_mask
from seg_f1.data.folder import Sample
from seg_f1.data.images import (
    MAX_PIXELS,
    UNREADABLE,
    UnreadableImage,
    displayed_size,
    open_image,
    read_photo,
)
from seg_f1.data.images import refused as unreadable

log = logging.getLogger(__name__)

VALIDATE_MODES = ("full", "sample", "off")
ON_BAD_SAMPLE = ("raise", "skip")
SAMPLE_SIZE = 64  # files fully decoded per split under validate=sample


@dataclass(frozen=True)
class Rejection:
    sample: Sample
    reason: str  # starts with the offending file's path
    unreadable: bool = (
        False  # a file that cannot be read safely, not a pair that reads but is wrong
    )


def check_options(validate: str, on_bad_sample: str, mask_size: str = "scaled") -> None:
    if validate not in VALIDATE_MODES:
        raise ValueError(f"data.validate={validate!r}: expected one of {VALIDATE_MODES}")
    if on_bad_sample not in ON_BAD_SAMPLE:
        raise ValueError(f"data.on_bad_sample={on_bad_sample!r}: expected one of {ON_BAD_SAMPLE}")
    if mask_size not in MASK_SIZES:
        raise ValueError(f"data.mask_size={mask_size!r}: expected one of {MASK_SIZES}")


def _displayed_size(path: Path, max_pixels: int) -> tuple[int, int]:
    try:
        with open_image(path, max_pixels) as image:
            return displayed_size(image)
    except UNREADABLE as error:
        raise unreadable(path, error) from error


def _problem(
    sample: Sample,
    num_classes: int,
    ignore_index: int,
    decode: bool,
    mask_size: str,
    max_pixels: int = MAX_PIXELS,
) -> Rejection | None:
    try:
        if decode:
            image = read_photo(sample.image, max_pixels=max_pixels)[0]
            mask = read_mask(sample.mask, max_pixels, sample.colors)
            check_mask_values(mask, num_classes, ignore_index, sample.mask)
            image_hw, mask_hw = image.shape[:2], mask.shape[:2]
        else:
            image_hw = _displayed_size(sample.image, max_pixels)
            with open_mask(sample.mask, max_pixels, sample.colors) as mask:
                mask_hw = (mask.height, mask.width)
        check_mask_size(image_hw, mask_hw, sample, mask_size)
    except ValueError as error:
        return Rejection(sample, str(error), isinstance(error, UnreadableImage))
    return None


def find_problems(
    samples: Sequence[Sample],
    num_classes: int,
    ignore_index: int,
    validate: str = "full",
    mask_size: str = "scaled",
    max_pixels: int = MAX_PIXELS,
) -> list[Rejection]:
    """``full`` decodes every file; ``sample`` reads every header (unreadable files, RGB masks,
    sizes) and decodes a seeded subset (truncation, bad mask values); ``off`` checks nothing."""
    if validate == "off":
        return []
    decoded = set(range(len(samples)))
    if validate == "sample" and len(samples) > SAMPLE_SIZE:
        decoded = set(random.Random(0).sample(range(len(samples)), SAMPLE_SIZE))
    rejections = []
    for index, sample in enumerate(samples):
        decode = index in decoded
        rejection = _problem(sample, num_classes, ignore_index, decode, mask_size, max_pixels)
        if rejection is not None:
            rejections.append(rejection)
    return rejections


def validate_split(
    samples: Sequence[Sample],
    split: str,
    num_classes: int,
    ignore_index: int,
    validate: str = "sample",
    on_bad_sample: str = "raise",
    mask_size: str = "scaled",
    max_pixels: int = MAX_PIXELS,
    on_unreadable: Callable[[Path, str], None] | None = None,
) -> list[Sample]:
    """The split's usable samples; bad ones raise (naming each) or are logged and dropped. With
    ``on_unreadable``, files that cannot be read safely go to it instead (evaluate's rule)."""
    rejections = find_problems(samples, num_classes, ignore_index, validate, mask_size, max_pixels)
    dropped = [r for r in rejections if r.unreadable] if on_unreadable else []
    for rejection in dropped:
        on_unreadable(rejection.sample.image, rejection.reason)
    rejections = [r for r in rejections if r not in dropped]
    if rejections and on_bad_sample == "raise":
        shown = "\n  ".join(r.reason for r in rejections[:5])
        raise ValueError(
            f"{len(rejections)} bad sample(s) in the {split} split (set data.on_bad_sample=skip "
            f"to leave them out):\n  {shown}"
        )
    for rejection in rejections:
        log.warning("skipping %s sample %s: %s", split, rejection.sample.name, rejection.reason)
    if rejections:
        log.warning("skipped %d of %d %s samples", len(rejections), len(samples), split)
    bad = {r.sample for r in rejections + dropped}
    kept = [s for s in samples if s not in bad]
    if not kept:
        raise ValueError(f"empty split: no usable samples left in the {split} split")
    return kept

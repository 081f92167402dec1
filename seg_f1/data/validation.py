"""Setup-time checks of a split's files, so a bad file stops the run before the first epoch."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from seg_f1.data.dataset import MASK_SIZES, check_mask_size, check_mask_values, open_mask, read_mask
from seg_f1.data.folder import Sample
from seg_f1.data.images import displayed_size, read_image

log = logging.getLogger(__name__)

VALIDATE_MODES = ("full", "sample", "off")
ON_BAD_SAMPLE = ("raise", "skip")
SAMPLE_SIZE = 64  # files fully decoded per split under validate=sample


@dataclass(frozen=True)
class Rejection:
    sample: Sample
    reason: str  # starts with the offending file's path


def check_options(validate: str, on_bad_sample: str, mask_size: str = "scaled") -> None:
    if validate not in VALIDATE_MODES:
        raise ValueError(f"data.validate={validate!r}: expected one of {VALIDATE_MODES}")
    if on_bad_sample not in ON_BAD_SAMPLE:
        raise ValueError(f"data.on_bad_sample={on_bad_sample!r}: expected one of {ON_BAD_SAMPLE}")
    if mask_size not in MASK_SIZES:
        raise ValueError(f"data.mask_size={mask_size!r}: expected one of {MASK_SIZES}")


def _displayed_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return displayed_size(image)
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"{path}: cannot read image ({error})") from error


def _problem(
    sample: Sample, num_classes: int, ignore_index: int, decode: bool, mask_size: str
) -> str | None:
    try:
        if decode:
            image, mask = read_image(sample.image), read_mask(sample.mask)
            check_mask_values(mask, num_classes, ignore_index, sample.mask)
            image_hw, mask_hw = image.shape[:2], mask.shape[:2]
        else:
            image_hw = _displayed_size(sample.image)
            with open_mask(sample.mask) as mask:
                mask_hw = (mask.height, mask.width)
        check_mask_size(image_hw, mask_hw, sample, mask_size)
    except ValueError as error:
        return str(error)
    return None


def find_problems(
    samples: Sequence[Sample],
    num_classes: int,
    ignore_index: int,
    validate: str = "full",
    mask_size: str = "scaled",
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
        reason = _problem(sample, num_classes, ignore_index, index in decoded, mask_size)
        if reason is not None:
            rejections.append(Rejection(sample, reason))
    return rejections


def validate_split(
    samples: Sequence[Sample],
    split: str,
    num_classes: int,
    ignore_index: int,
    validate: str = "sample",
    on_bad_sample: str = "raise",
    mask_size: str = "scaled",
) -> list[Sample]:
    """The split's usable samples; bad ones raise (naming each) or are logged and dropped."""
    rejections = find_problems(samples, num_classes, ignore_index, validate, mask_size)
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
    bad = {r.sample for r in rejections}
    kept = [s for s in samples if s not in bad]
    if not kept:
        raise ValueError(f"empty split: no usable samples left in the {split} split")
    return kept

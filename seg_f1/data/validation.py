"""Setup-time checks of a split's files, so a bad file stops the run before the first epoch."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from seg_f1.data.dataset import check_mask_values, open_mask, read_mask
from seg_f1.data.folder import Sample
from seg_f1.data.images import read_image

log = logging.getLogger(__name__)

VALIDATE_MODES = ("full", "sample", "off")
ON_BAD_SAMPLE = ("raise", "skip")
SAMPLE_SIZE = 64  # files fully decoded per split under validate=sample


@dataclass(frozen=True)
class Rejection:
    sample: Sample
    reason: str  # starts with the offending file's path


def check_options(validate: str, on_bad_sample: str) -> None:
    if validate not in VALIDATE_MODES:
        raise ValueError(f"data.validate={validate!r}: expected one of {VALIDATE_MODES}")
    if on_bad_sample not in ON_BAD_SAMPLE:
        raise ValueError(f"data.on_bad_sample={on_bad_sample!r}: expected one of {ON_BAD_SAMPLE}")


def _check_header(path: Path) -> None:
    try:
        with Image.open(path):
            pass
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"{path}: cannot read image ({error})") from error


def _problem(sample: Sample, num_classes: int, ignore_index: int, decode: bool) -> str | None:
    try:
        if decode:
            read_image(sample.image)
            check_mask_values(read_mask(sample.mask), num_classes, ignore_index, sample.mask)
        else:
            _check_header(sample.image)
            open_mask(sample.mask).close()
    except ValueError as error:
        return str(error)
    return None


def find_problems(
    samples: Sequence[Sample], num_classes: int, ignore_index: int, validate: str = "full"
) -> list[Rejection]:
    """``full`` decodes every file; ``sample`` reads every header (unreadable files, RGB masks)
    and decodes a seeded subset (truncation, bad mask values); ``off`` checks nothing."""
    if validate == "off":
        return []
    decoded = set(range(len(samples)))
    if validate == "sample" and len(samples) > SAMPLE_SIZE:
        decoded = set(random.Random(0).sample(range(len(samples)), SAMPLE_SIZE))
    rejections = []
    for index, sample in enumerate(samples):
        reason = _problem(sample, num_classes, ignore_index, decode=index in decoded)
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
) -> list[Sample]:
    """The split's usable samples; bad ones raise (naming each) or are logged and dropped."""
    rejections = find_problems(samples, num_classes, ignore_index, validate)
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

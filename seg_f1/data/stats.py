"""What a dataset holds, per split and class: pixel frequency (the counts class weights are
computed from), the share of images containing the class and its mean area where present, the
image and mask sizes seen, and every file that would be rejected, with why."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from seg_f1.data.folder import Sample
from seg_f1.data.pixel_counts import count_pixels
from seg_f1.data.validation import find_problems


def _sizes(paths: Sequence[Path]) -> dict[str, int]:
    seen: Counter[str] = Counter()
    for path in paths:
        with Image.open(path) as image:
            seen[f"{image.width}x{image.height}"] += 1
    return dict(sorted(seen.items()))


def split_stats(samples: Sequence[Sample], class_names: Sequence[str], ignore_index: int) -> dict:
    """The report of one split; a rejected file is listed and left out of the counts."""
    rejected = find_problems(samples, len(class_names), ignore_index, validate="full")
    bad = {r.sample for r in rejected}
    good = [s for s in samples if s not in bad]
    colors = good[0].colors if good else None  # one dataset, one palette
    counts = count_pixels([s.mask for s in good], len(class_names), ignore_index, True, colors)
    classes = {}
    for index, name in enumerate(class_names):
        present = int(counts.images_with_class[index])
        pixels = int(counts.pixels[index])
        classes[name] = {
            "pixels": pixels,
            "pixel_frequency": float(counts.frequency[index]),
            "images_with_class": present,
            "image_share": present / len(good) if good else 0.0,
            "mean_pixels_when_present": pixels / present if present else 0.0,
            "mean_area_when_present": pixels / int(counts.image_pixels[index]) if present else 0.0,
        }
    return {
        "images": len(good),
        "classes": classes,
        "image_sizes": _sizes([s.image for s in good]),
        "mask_sizes": _sizes([s.mask for s in good]),
        "rejected": [{"name": r.sample.name, "reason": r.reason} for r in rejected],
    }


def dataset_stats(datamodule, splits: Sequence[str] = ("train", "val", "test")) -> dict:
    return {
        "data_root": str(datamodule.data_root),
        "class_names": list(datamodule.class_names),
        "ignore_index": datamodule.ignore_index,
        "splits": {
            split: split_stats(
                datamodule.source.samples(split), datamodule.class_names, datamodule.ignore_index
            )
            for split in splits
        },
    }

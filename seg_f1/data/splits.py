"""Seeded train/val/test splits for datasets that ship without one (or without a val split)."""

from __future__ import annotations

import random
from collections.abc import Sequence


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"data.source.{key}={value}: expected a fraction in [0, 1)")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"data.source.val_fraction + test_fraction = {val_fraction + test_fraction}: "
            "must leave something to train on (< 1)"
        )


def seeded_split(
    keys: Sequence[str], val_fraction: float, test_fraction: float, seed: int
) -> dict[str, list[str]]:
    """Shuffle the sorted keys with ``seed`` and cut; the same inputs always give the same split."""
    check_fractions(val_fraction, test_fraction)
    order = sorted(keys)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    n_test = round(len(order) * test_fraction)
    return {
        "val": sorted(order[:n_val]),
        "test": sorted(order[n_val : n_val + n_test]),
        "train": sorted(order[n_val + n_test :]),
    }

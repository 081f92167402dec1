"""The tables of a run and of an evaluation, built from :mod:`seg_f1.metrics`'s per-class rows."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from seg_f1.metrics import f1_from_confusion, per_class_rows
from seg_f1.report.tables import Column, Table, decimals4, markdown

CURVE_COLUMNS = ("train/loss", "train/f1", "val/loss", "val/f1")


def curves_markdown(rows: list[dict[str, float]]) -> str:
    """One row per epoch, loss and F1 per split; epochs from 1 (the rows count from 0)."""
    columns = [Column("epoch"), *(Column(key, decimals4) for key in CURVE_COLUMNS)]
    values = [
        [int(row["epoch"]) + 1, *(row.get(key, math.nan) for key in CURVE_COLUMNS)] for row in rows
    ]
    return markdown(Table(columns, values))


def f1_table(confmat: Tensor, class_names: Sequence[str], split: str) -> Table:
    """Per-class F1 with each class's share of the target pixels, for the console."""
    _, mean = f1_from_confusion(confmat)
    columns = [
        Column("index"),
        Column("class", align="left"),
        Column("pixels", "{:.2%}".format),
        Column("F1", decimals4),
    ]
    rows = [
        [r["index"], r["class"], r["pixel_share"], r["f1"]]
        for r in per_class_rows(confmat, class_names)
    ]
    return Table(columns, rows, f"{split} F1 per class (mean over foreground: {mean:.4f})")

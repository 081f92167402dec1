"""Per-epoch metric history read from ``trainer.callback_metrics`` once an epoch is complete.

A callback's ``on_train_epoch_end`` runs before the module logs ``train/f1``, so the finished
epoch is read at the next epoch's start, and the last one at ``on_train_end``.
"""

from __future__ import annotations

import math

import lightning as L

CURVE_KEYS = ("train/loss", "val/loss", "train/f1", "val/f1")


def finished_epoch_metrics(trainer: L.Trainer, keys=CURVE_KEYS) -> dict[str, float]:
    """The keys' current values as floats; a key not logged (yet) reads as NaN."""
    values = {}
    for key in keys:
        value = trainer.callback_metrics.get(key)
        values[key] = float(value) if value is not None else math.nan
    return values


class EpochHistory:
    """Rows of ``{epoch, metric: value}``; an epoch is recorded once, so resumes never repeat."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def record(self, epoch: int, metrics: dict[str, float]) -> bool:
        if self.rows and self.rows[-1]["epoch"] >= epoch:
            return False
        self.rows.append({"epoch": epoch, **metrics})
        return True

    def series(self, key: str) -> list[float]:
        return [row.get(key, math.nan) for row in self.rows]

    def state_dict(self) -> dict:
        return {"rows": [dict(row) for row in self.rows]}

    def load_state_dict(self, state: dict) -> None:
        self.rows = [dict(row) for row in state.get("rows", [])]

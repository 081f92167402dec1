"""The learning rate per epoch, logged as every other per-epoch metric is: beside its ``epoch``."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor


class EpochLearningRateMonitor(LearningRateMonitor):
    """Lightning's monitor, each epoch's rate logged with the ``epoch`` it applies to: MLflow
    charts it on the epoch axis like the metrics it explains (``GuardedMLFlowLogger`` steps by
    that key), not at the optimizer step count, and metrics.csv fills its epoch column."""

    def _extract_stats(self, trainer: L.Trainer, interval: str) -> dict[str, float]:
        stats = super()._extract_stats(trainer, interval)
        if stats and self.logging_interval == "epoch":
            stats["epoch"] = trainer.current_epoch
        return stats

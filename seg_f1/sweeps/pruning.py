"""Report each epoch's ``val/f1`` to the Optuna trial this job runs, and stop when pruned.

The job may run in another process or on another node than its sweeper (submitit), so the
callback reaches the trial through the storage: storage URL, study name and trial number come
from the sweeper's config (``conf/hparams_search/optuna.yaml``). The sweeper runs each job on
one device; only rank 0 would report, should the trainer have more.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L

from seg_f1.runs.results import Pruned
from seg_f1.runs.services import DEFAULT_TIMEOUT_S
from seg_f1.sweeps.study import check_storage, open_storage, trial_id

TARGET = f"{__name__}.OptunaPruning"


def check_pruning_storage(callbacks: Any) -> None:
    """The storage the pruning callback will report to, checked before the job reads any data:
    a job on another node may not reach the database its sweeper reached."""
    for entry in (callbacks or {}).values():
        if entry is not None and entry.get("_target_") == TARGET:
            check_storage(entry.storage, float(entry.get("timeout_s", DEFAULT_TIMEOUT_S)))


class OptunaPruning(L.Callback):
    def __init__(
        self,
        storage: str,
        study_name: str,
        trial_number: int,
        monitor: str,
        pruner: Any = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.storage_url = storage
        self.timeout_s = timeout_s
        self.study_name = study_name
        self.trial_number = int(trial_number)
        self.monitor = monitor
        self.pruner = pruner
        self.best: float | None = None
        self._trial: Any = None
        self._better = max

    def trial(self) -> Any:
        """The live trial, rebuilt from the storage on first use (rank 0 only)."""
        if self._trial is None:
            import optuna

            storage = open_storage(self.storage_url, timeout_s=self.timeout_s)
            study = optuna.load_study(
                study_name=self.study_name, storage=storage, pruner=self.pruner
            )
            self._trial = optuna.Trial(study, trial_id(storage, self.study_name, self.trial_number))
            self._better = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
        return self._trial

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        prune = False
        if trainer.is_global_zero:
            prune = self._report(trainer)
        if trainer.strategy.broadcast(prune, src=0):
            raise Pruned(epochs=trainer.current_epoch + 1, best=self.best)

    def _report(self, trainer: L.Trainer) -> bool:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return False  # a NaN epoch is the NaN guard's business, not the pruner's
        value = float(value)
        trial = self.trial()
        self.best = value if self.best is None else self._better(self.best, value)
        # the step is the number of epochs done, so a pruner's min_resource=1 means "after one
        # epoch" (Optuna's max_resource="auto" counts steps from 0: it becomes epochs + 1)
        trial.report(value, step=trainer.current_epoch + 1)
        return trial.should_prune()

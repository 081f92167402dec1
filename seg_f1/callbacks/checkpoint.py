"""The run's best checkpoint and ``last.ckpt``, with a disk policy.

A full checkpoint carries the optimizer state (Adam: two more copies of the weights), so a
resnet18 U-Net's is about three times its weights. ``last.ckpt`` is what ``resume=`` needs while
a run can still be killed; the best checkpoint is what a user reuses (``evaluate``, ``predict``,
``export``, fine-tuning), and for that the weights suffice.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import ModelCheckpoint

POLICIES = ("reuse", "everything")


def is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose best checkpoint can be weights-only while ``last.ckpt`` stays
    complete, so a killed run still resumes.

    ``best_weights_only``: the best checkpoint without optimizer, scheduler and callback state.
    ``in_multirun``: ``reuse`` (default) keeps inside a multirun only what reusing the trial
    needs: the best checkpoint weights-only, and ``last.ckpt`` deleted once the job has finished
    (a killed job keeps it for ``resume=``); ``everything`` keeps what a single run keeps.
    """

    def __init__(
        self, *args, best_weights_only: bool = False, in_multirun: str = "reuse", **kwargs
    ) -> None:
        if in_multirun not in POLICIES:
            raise ValueError(
                f"callbacks.model_checkpoint.in_multirun={in_multirun!r}: expected one of "
                f"{', '.join(POLICIES)}"
            )
        super().__init__(*args, **kwargs)
        self.reuse_only = in_multirun == "reuse" and is_multirun()
        self.best_weights_only = best_weights_only or self.reuse_only

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        is_last = Path(filepath).stem.startswith(self.CHECKPOINT_NAME_LAST)
        weights_only = self.save_weights_only or (self.best_weights_only and not is_last)
        if weights_only == self.save_weights_only:
            return super()._save_checkpoint(trainer, filepath)
        full, self.save_weights_only = self.save_weights_only, weights_only
        try:
            super()._save_checkpoint(trainer, filepath)
        finally:
            self.save_weights_only = full

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A finished sweep job has nothing to resume: its ``last.ckpt`` goes."""
        if self.reuse_only and self.last_model_path and not trainer.interrupted:
            if trainer.is_global_zero:
                Path(self.last_model_path).unlink(missing_ok=True)
            self.last_model_path = ""

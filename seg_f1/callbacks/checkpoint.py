"""The run's best checkpoint and ``last.ckpt``, with a disk policy.

A full checkpoint carries the optimizer state (Adam: two more copies of the weights), so a
resnet18 U-Net's is about three times its weights. ``last.ckpt`` is what ``resume=`` needs while
a run can still be killed; the best checkpoint is what a user reuses (``evaluate``, ``predict``,
``export``, fine-tuning), and for that the weights suffice.

When the epoch's best checkpoint was just written complete, ``last.ckpt`` holds the same bytes;
it becomes a hard link to it instead of a second write (and fsync) of the same ~172 MB.
"""

from __future__ import annotations

from pathlib import Path
from weakref import proxy

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import ModelCheckpoint

from seg_f1.runs.io import link_atomically

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

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_behind(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._save_last_if_behind(trainer)

    def _save_last_if_behind(self, trainer: L.Trainer) -> None:
        """``last.ckpt`` after every validation, as ``save_last=True`` means: since Lightning 2.6
        ``ModelCheckpoint`` writes it only when it also writes a top-k checkpoint, so a run killed
        after epochs without a new best would resume from the best one and redo them."""
        if self.save_last and not self._should_skip_saving_checkpoint(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _is_last(self, filepath: str) -> bool:
        return Path(filepath).stem.startswith(self.CHECKPOINT_NAME_LAST)

    def _weights_only(self, filepath: str) -> bool:
        """Whether the checkpoint at ``filepath`` is (or would be) written without the state
        that resuming needs: the best one under ``best_weights_only``, never ``last.ckpt``."""
        return self.save_weights_only or (self.best_weights_only and not self._is_last(filepath))

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        if self._is_last(filepath) and self._link_to_this_steps_save(trainer, filepath):
            return
        weights_only = self._weights_only(filepath)
        if weights_only == self.save_weights_only:
            return super()._save_checkpoint(trainer, filepath)
        full, self.save_weights_only = self.save_weights_only, weights_only
        try:
            super()._save_checkpoint(trainer, filepath)
        finally:
            self.save_weights_only = full

    def _link_to_this_steps_save(self, trainer: L.Trainer, filepath: str) -> bool:
        """``filepath`` as a hard link to the checkpoint saved at this same step (Lightning's
        ``_last_checkpoint_saved``), when that one holds what ``filepath`` would (complete, or
        weights-only like it). Both are dumped from the same state; the only field that can
        differ is ``last_model_path`` in the callback's state, empty in the very first best
        checkpoint, which a resume treats alike."""
        source = self._last_checkpoint_saved
        if (
            self._last_global_step_saved != trainer.global_step
            or not source
            or source == filepath
            or self._weights_only(source) != self._weights_only(filepath)
        ):
            return False
        linked = trainer.is_global_zero and link_atomically(Path(source), Path(filepath))
        if not trainer.strategy.broadcast(linked):  # every rank writes, or none does
            return False
        # what ModelCheckpoint._save_checkpoint records after a write, and the loggers' notice
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))
        return True

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A finished sweep job has nothing to resume: its ``last.ckpt`` goes."""
        if self.reuse_only and self.last_model_path and not trainer.interrupted:
            if trainer.is_global_zero:
                Path(self.last_model_path).unlink(missing_ok=True)
            self.last_model_path = ""

"""The progress bar's ``train/f1`` is the current epoch's, not the one before: the logged value
is only computed as an epoch ends, so a bar that showed it was an epoch behind all along."""

from __future__ import annotations

import functools

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader

from seg_f1.callbacks.console import ProgressBar
from seg_f1.losses import CELoss, CompositeLoss
from seg_f1.metrics import f1_from_confusion
from seg_f1.module import SegmentationModule

CLASSES = ["background", "skin", "hair"]


def batches(count: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [{"image": torch.randn(2, 3, 32, 32, generator=g),
             "mask": torch.randint(0, 3, (2, 32, 32), generator=g)}
            for _ in range(count)]  # fmt: skip


class BarWatcher(Callback):
    """What the bar would show after each training batch and as each epoch's validation ends
    (the epoch's last frame), beside the train F1 the epoch then logs."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar = bar
        self.after_batch: list[tuple[float | None, float]] = []  # shown, epoch so far
        self.last_frame: list[float | None] = []
        self.logged: list[float] = []

    def shown(self, trainer, pl_module) -> float | None:
        return self.bar.get_metrics(trainer, pl_module).get("train/f1")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        _, so_far = f1_from_confusion(pl_module.train_confusion.confmat)
        self.after_batch.append((self.shown(trainer, pl_module), so_far))

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.last_frame.append(self.shown(trainer, pl_module))

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch > 0:  # the module logged the epoch before after the callbacks
            self.logged.append(float(trainer.callback_metrics["train/f1"]))

    def on_train_end(self, trainer, pl_module) -> None:
        self.logged.append(float(trainer.callback_metrics["train/f1"]))


def test_the_bar_shows_the_train_f1_of_the_epoch_it_is_in(tmp_path):
    torch.manual_seed(0)
    module = SegmentationModule(
        CLASSES,
        loss=CompositeLoss({"ce": CELoss()}, {"ce": 1.0}),
        optimizer=functools.partial(torch.optim.AdamW, lr=1e-2),
        model_kwargs={"encoder_depth": 3, "decoder_channels": [32, 16, 8]},
    )
    bar = ProgressBar()
    watcher = BarWatcher(bar)
    trainer = L.Trainer(accelerator="cpu", max_epochs=3, logger=False, callbacks=[bar, watcher],
                        enable_checkpointing=False, enable_model_summary=False,
                        default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(module, DataLoader(batches(3, 0), batch_size=None),
                DataLoader(batches(1, 1), batch_size=None))  # fmt: skip
    assert len(set(watcher.logged)) == 3  # each epoch's own train F1: telling them apart
    # the epoch's last frame: its own train F1, as it is then logged
    assert watcher.last_frame == [pytest.approx(f1) for f1 in watcher.logged]
    # during the epoch: its F1 so far, from the first batch on
    assert [shown for shown, _ in watcher.after_batch] == [
        pytest.approx(so_far) for _, so_far in watcher.after_batch
    ]

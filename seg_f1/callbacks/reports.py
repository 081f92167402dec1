"""Writes the run's figures and tables to the run directory (and TensorBoard) at the end of fit."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf

from seg_f1.callbacks.history import EpochHistory, finished_epoch_metrics
from seg_f1.metrics import per_class_rows
from seg_f1.report import figures
from seg_f1.report.files import save_figure, save_text
from seg_f1.report.runs import curves_markdown
from seg_f1.report.tables import csv_text, record_table
from seg_f1.runs.tracking import job_overrides


def run_title(root: Path) -> str:
    """What the figures' titles name the run by: a sweep job by its number and the overrides
    its sweep varies (``job 3 · loss=ce seed=1``; its folder, ``3``, is no more than a counter),
    any other run by its folder."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return f"run {root.name}"
    hydra = HydraConfig.get()  # a config composed outside a launcher has no job number
    number = OmegaConf.select(hydra, "job.num", default=root.name)
    return " ".join([f"job {number} ·", *job_overrides(hydra)])


class RunReports(L.Callback):
    """``curves.png``/``curves.md``, ``per_class_f1.png``/``.csv``, ``confusion.png`` and
    ``predictions.png`` (the first ``num_predictions`` validation images, which never change)
    and, after a test, ``test_predictions.png`` (the first test images with the tested weights).
    None under ``fast_dev_run`` (``debug=fdr``), which Lightning keeps free of logs and
    checkpoints too: its one batch says whether the run works, not how it learns.

    ``small_class_share``: classes under this share of the validation pixels are flagged."""

    def __init__(
        self, output_dir: str | None = None, num_predictions: int = 4, small_class_share=0.01
    ) -> None:
        self.output_dir = output_dir
        self.num_predictions = num_predictions
        self.small_class_share = small_class_share
        self.history = EpochHistory()
        self.epoch_lr: dict[int, float] = {}

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.optimizers:  # the rate this epoch trains with, before the scheduler steps
            self.epoch_lr[trainer.current_epoch] = trainer.optimizers[0].param_groups[0]["lr"]
        if trainer.current_epoch > 0:
            self._record(trainer, trainer.current_epoch - 1)

    def _record(self, trainer: L.Trainer, epoch: int) -> None:
        lr = self.epoch_lr.get(epoch, math.nan)
        self.history.record(epoch, {**finished_epoch_metrics(trainer), "lr": lr})

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record(trainer, trainer.current_epoch - 1)
        if not trainer.is_global_zero or trainer.fast_dev_run:  # a smoke test: no artefacts
            return
        root = Path(self.output_dir or trainer.default_root_dir)
        # epochs done: the last epoch counted from 1, as the epoch line says it
        where = f"epoch {trainer.current_epoch} · {run_title(root)}"
        made = {"curves": figures.curves_figure(self.history.rows, f"training curves · {where}")}
        save_text(curves_markdown(self.history.rows), root / "curves.md")
        confmat = pl_module.last_confusion.get("val")
        names = pl_module.class_names
        if confmat is not None:
            rows = per_class_rows(confmat, names)
            save_text(csv_text(record_table(rows)), root / "per_class_f1.csv")
            made["per_class_f1"] = figures.per_class_f1_figure(
                names, [r["f1"] for r in rows], [r["pixel_share"] for r in rows],
                self.small_class_share, f"val F1 per class · {where}",
            )  # fmt: skip
            made["confusion"] = figures.confusion_figure(
                confmat.numpy(), names, f"val confusion (% of each target row) · {where}"
            )
        datamodule = trainer.datamodule
        if datamodule is not None and "val" in getattr(datamodule, "datasets", {}):
            made["predictions"] = self._predictions(pl_module, datamodule, "val", where)
        for name, fig in made.items():
            for logger in trainer.loggers:
                if isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_figure(f"reports/{name}", fig, trainer.global_step)
            save_figure(fig, root / f"{name}.png")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        datamodule = trainer.datamodule
        if not trainer.is_global_zero or trainer.fast_dev_run:
            return
        if "test" not in getattr(datamodule, "datasets", {}):
            return
        root = Path(self.output_dir or trainer.default_root_dir)
        where = run_title(root)
        fig = self._predictions(pl_module, datamodule, "test", where)
        save_figure(fig, root / "test_predictions.png")

    @torch.no_grad()
    def _predictions(self, pl_module, datamodule, split: str, where: str):
        dataset = datamodule.datasets[split]
        items = [dataset[i] for i in range(min(self.num_predictions, len(dataset)))]
        images = torch.stack([item["image"] for item in items]).to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        predicted = pl_module(pl_module.normalise(images)).argmax(1).cpu().numpy()
        pl_module.train(was_training)
        photos = [item["image"].permute(1, 2, 0).numpy() for item in items]
        targets = [item["mask"].cpu().numpy() for item in items]
        names = pl_module.class_names
        title = f"{split} predictions · {where}"
        return figures.predictions_figure(photos, targets, list(predicted), names, title)

    def state_dict(self) -> dict:
        return {"history": self.history.state_dict(), "epoch_lr": dict(self.epoch_lr)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history.load_state_dict(state_dict.get("history", {}))
        self.epoch_lr = {int(k): float(v) for k, v in state_dict.get("epoch_lr", {}).items()}

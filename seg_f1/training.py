"""One training run from a composed config: everything is validated before any epoch starts."""

from __future__ import annotations

import logging
import math
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from seg_f1.callbacks.console import quiet_lightning
from seg_f1.callbacks.throughput import Throughput
from seg_f1.config.checks import check_train_config
from seg_f1.config.deprecated import move_deprecated_keys
from seg_f1.config.precision import resolve_channels_last, resolve_precision
from seg_f1.config.tree import show_config
from seg_f1.data import FaceParsingDataModule
from seg_f1.inference.calibration import calibrate_trained, decoding_summary, decoding_table
from seg_f1.losses import build_loss
from seg_f1.losses.class_weights import resolve_class_weights
from seg_f1.module import SegmentationModule
from seg_f1.report.runs import f1_table
from seg_f1.report.tables import print_table
from seg_f1.runs.checkpoints import load_checkpoint
from seg_f1.runs.directory import claimed, refuse_if_live
from seg_f1.runs.results import RunRecord, is_first_process, run_objective
from seg_f1.runs.resume import (
    AtomicCheckpointIO,
    ResumableCSVLogger,
    resolve_ckpt_path,
    resume_command,
)
from seg_f1.runs.resume_config import check_continued_config
from seg_f1.runs.services import check_trackers
from seg_f1.runs.tracking import log_config, lost_trackers, publish_run
from seg_f1.sweeps.pruning import check_pruning_storage

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float:
    """Fit, test the best checkpoint, and return the best ``optimized_metric`` (for sweepers).

    The run directory is claimed first (``seg_f1.runs.directory``) and a continued run's config
    checked, so neither can touch an earlier run's files. The run is recorded in
    ``<output_dir>/result.json``; in a multirun a failed run returns NaN instead of raising, so
    the sweep goes on (``seg_f1.runs.results``).
    """
    move_deprecated_keys(cfg)
    output_dir = cfg.paths.output_dir
    claim = claimed(output_dir, continues_in_place(cfg)) if is_first_process() else nullcontext()
    with claim:
        if cfg.get("resume") and not continues_in_place(cfg):
            hint = "resume= starts from a run that has stopped: wait for it to finish or stop it"
            refuse_if_live(cfg.resume, hint)
        ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), cfg.get("resume"), output_dir)
        step, changes = check_start(cfg, ckpt_path)
        if is_first_process():
            show_config(cfg, output_dir)

        def body(record: RunRecord) -> None:
            if changes:
                record.data["resume_changes"] = changes
            fit_and_test(cfg, record, ckpt_path, step)

        return run_objective(cfg, body, output_dir)


def check_start(cfg: DictConfig, ckpt_path: str | None) -> tuple[int | None, dict]:
    """The step the checkpoint was saved at, and what a continued run changes (refused unless
    ``resume_force``); the checkpoint is memory-mapped, so its weights are not read here."""
    if not ckpt_path:
        return None, {}
    start = load_checkpoint(ckpt_path, mmap=True)
    if not isinstance(start, dict) or "global_step" not in start:
        raise ValueError(f"{ckpt_path}: not a training checkpoint (it has no global_step)")
    changes = {}
    if cfg.get("resume") or cfg.get("ckpt_path") == "last":
        force = bool(cfg.get("resume_force"))
        changes = check_continued_config(start.get("config"), cfg, force, ckpt_path)
    return int(start["global_step"]), changes


def continues_in_place(cfg: DictConfig) -> bool:
    """``resume=<this run's directory>`` or ``ckpt_path=last``: the run goes on where it is."""
    if cfg.get("resume"):
        return Path(cfg.resume).resolve() == Path(cfg.paths.output_dir).resolve()
    return cfg.get("ckpt_path") == "last"


def fit_and_test(
    cfg: DictConfig, record: RunRecord, ckpt_path: str | None, resume_from_step: int | None
) -> None:
    check_train_config(cfg)
    check_services(cfg)
    precision = resolve_precision(
        cfg.trainer.get("precision"), cfg.trainer.get("accelerator", "auto")
    )
    L.seed_everything(cfg.seed, workers=True)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule, precision)
    check_optimized_metric(cfg.optimized_metric, module)
    trainer = build_trainer(cfg, resume_from_step=resume_from_step, precision=precision)
    if trainer.is_global_zero:
        log_config(trainer.loggers, cfg)

    try:
        best = fit_test_calibrate(cfg, record, trainer, module, datamodule, ckpt_path)
    except BaseException:
        record.observe_progress(trainer)  # a failed or stopped run keeps what it did
        raise
    if trainer.is_global_zero:
        publish_run(trainer, cfg, best)
    record.observe(trainer, module, best)
    record.data["precision"] = str(trainer.precision)
    if lost := lost_trackers(trainer.loggers):
        record.data["trackers_lost"] = lost
    throughput = next((c for c in trainer.callbacks if isinstance(c, Throughput)), None)
    if throughput is not None and throughput.summary is not None:
        record.data["throughput"] = throughput.summary


def calibrate_decisions(cfg, trainer, module, datamodule, ckpt: str) -> dict:
    """Per-class decision offsets for F1, tuned on val with the best weights and scored on test
    beside argmax, under the run's own precision (``seg_f1.inference.calibration``)."""
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    with trainer.precision_plugin.forward_context(), torch.no_grad():
        record = calibrate_trained(
            module, datamodule, data_cfg, ckpt or None, cfg.paths.output_dir,
            (trainer.limit_val_batches, trainer.limit_test_batches),
            progress=trainer.progress_bar_callback is not None,
        )  # fmt: skip
    print_table(decoding_table(record))
    return decoding_summary(record)


def check_services(cfg: DictConfig) -> None:
    """The trackers and the sweep's storage answer, or the run ends now, before any data is
    read or generated, naming the key to fix (``seg_f1.runs.services``)."""
    check_trackers(cfg.get("logger"))
    check_pruning_storage(cfg.get("callbacks"))


def fit_test_calibrate(cfg, record, trainer, module, datamodule, ckpt_path) -> float:
    """Fit, test the best checkpoint and tune its decision offsets; the best value."""
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    except SIGTERMException as stop:  # a SystemExit whose status would read as success
        raise SystemExit(
            f"training stopped by a signal at step {trainer.global_step}; last.ckpt is written, "
            f"continue with: {resume_command(cfg.paths.output_dir)}"
        ) from stop
    best = best_score(trainer, cfg.optimized_metric)
    if cfg.get("test"):  # fast_dev_run keeps no checkpoint: the weights in memory are tested
        ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(module, datamodule=datamodule, ckpt_path=ckpt or None, verbose=False)
        if cfg.get("calibrate") and trainer.is_global_zero:
            record.data["decoding"] = calibrate_decisions(cfg, trainer, module, datamodule, ckpt)
        elif trainer.is_global_zero and "test" in module.last_confusion:
            table = f1_table(module.last_confusion["test"], module.class_names, "test")
            print_table(table)
    log.info("best %s = %.4f", cfg.optimized_metric, best)
    return best


def build_datamodule(cfg: DictConfig) -> FaceParsingDataModule:
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    return datamodule


def build_module(
    cfg: DictConfig, datamodule: FaceParsingDataModule, precision: str | int | None = None
) -> SegmentationModule:
    """The loss is validated and its class weights resolved here, before the trainer exists;
    ``precision`` (the trainer's, resolved) decides ``model.channels_last: auto``."""
    class_weights = resolve_class_weights(
        cfg.loss.get("class_weights"),
        class_names=datamodule.class_names,
        ignore_index=datamodule.ignore_index,
        mask_paths=datamodule.train_mask_paths,
        cache_dirs=(datamodule.data_root, Path(cfg.paths.data_dir) / "class_weights"),
        label_colors=datamodule.label_colors,
    )
    loss = build_loss(
        cfg.loss,
        num_classes=datamodule.num_classes,
        ignore_index=datamodule.ignore_index,
        class_weights=class_weights,
    )
    check_classes(cfg, datamodule)
    module = hydra.utils.instantiate(
        cfg.model,
        loss=loss,
        optimizer=hydra.utils.instantiate(cfg.optimizer),
        scheduler=hydra.utils.instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        mean=datamodule.mean,
        std=datamodule.std,
        channels_last=resolve_channels_last(cfg.model.get("channels_last", False), precision),
        _convert_="all",
    )
    # set afterwards: passed to instantiate, its _target_ keys would be instantiated too
    module.run_config = OmegaConf.to_container(cfg, resolve=True)
    return module


def check_classes(cfg: DictConfig, datamodule: FaceParsingDataModule) -> None:
    model_classes = list(cfg.model.class_names)
    if model_classes != datamodule.class_names:
        raise ValueError(
            f"model.class_names {model_classes} differ from data.classes "
            f"{datamodule.class_names}; leave model.class_names as ${{data.classes}}"
        )


def check_optimized_metric(name: str, module: SegmentationModule) -> None:
    known = module.logged_metric_names()
    if name not in known:
        raise ValueError(
            f"optimized_metric={name!r} is not a metric this run logs; choose one of: "
            + ", ".join(known)
        )


def build_trainer(
    cfg: DictConfig, resume_from_step: int | None = None, precision: str | int | None = None
) -> L.Trainer:
    """``resume_from_step`` tells CSV loggers which rows of an earlier run to keep; ``precision``
    is ``trainer.precision`` as resolved by the caller (resolved here when not given)."""
    quiet_lightning()
    callbacks = instantiate_entries(cfg.get("callbacks"))
    loggers = instantiate_entries(cfg.get("logger"))
    for logger in loggers:
        if isinstance(logger, ResumableCSVLogger):
            logger.resume_from_step = resume_from_step
    move_deprecated_keys(cfg)
    trainer_kwargs = OmegaConf.to_container(cfg.trainer, resolve=True)
    if precision is None:
        precision = resolve_precision(
            trainer_kwargs.get("precision"), trainer_kwargs.get("accelerator", "auto")
        )
    trainer_kwargs["precision"] = precision
    if not any(isinstance(c, ProgressBar) for c in callbacks):
        # a dropped bar (callbacks.progress_bar=null) means none, not Lightning's default one
        trainer_kwargs.setdefault("enable_progress_bar", False)
    plugins = [*(trainer_kwargs.pop("plugins", None) or []), AtomicCheckpointIO()]
    return hydra.utils.instantiate(
        trainer_kwargs, callbacks=callbacks, logger=loggers or False, plugins=plugins
    )


def instantiate_entries(group: DictConfig | None) -> list:
    """The group's entries; ``callbacks.<name>=null`` or ``logger.<name>=null`` drops one. An
    entry without ``_target_`` holds only a preset's settings for a dropped one (the debug
    presets' ``model_checkpoint`` under ``callbacks=none``): nothing to build."""
    entries = (group or {}).values()
    return [hydra.utils.instantiate(c) for c in entries if c is not None and "_target_" in c]


def best_score(trainer: L.Trainer, metric: str) -> float:
    """The checkpoint callback's best value, or the last logged one when nothing was kept."""
    checkpoint = trainer.checkpoint_callback
    value: Any = None
    if checkpoint is not None and checkpoint.monitor == metric:
        value = checkpoint.best_model_score
    if value is None:
        value = trainer.callback_metrics.get(metric)
    if value is None:
        raise RuntimeError(f"optimized_metric={metric!r} was never logged during fit")
    value = float(value.item() if isinstance(value, Tensor) else value)
    return value if math.isfinite(value) else float("nan")

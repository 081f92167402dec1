"""Experiment trackers beyond metrics.csv: MLflow on a database, TensorBoard hparams, W&B.

Lightning's loggers already receive every metric as it is logged; this module adds what they do
not know: the whole resolved config as flat params, the sweep a run belongs to, the best
``optimized_metric`` for TensorBoard's hparams view, and the run's reports as artifacts.

A remote tracker is checked before the run reads any data (``check_trackers``), and one that
fails later does not stop training (``TrackerGuard``): metrics.csv keeps the whole record.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from seg_f1.runs.services import (
    DEFAULT_TIMEOUT_S,
    has_wandb_key,
    make_local_store,
    mlflow_limits,
    reason,
)

log = logging.getLogger(__name__)

# what RunReports, CurveDiagnosis and the config tree leave in the run directory
REPORT_FILES = ("*.png", "diagnosis.md", "curves.md", "per_class_f1.csv", "config_tree.log")


# MLflow keeps a run's name in a 250-character column
MAX_RUN_NAME = 250


def job_run_name() -> str | None:
    """The run's own name: its directory under outputs/ (``<time>``, or ``<sweep time>/<job>``
    in a multirun) and its command-line overrides, a multirun job's only those its sweep varies
    (``2026-12-03_16-17-08/1 loss.dice_weight=0.5``). Unique per job, and set before the tracker
    would draw a random name from the RNG the run has just seeded (the same for every run)."""
    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    run_dir = Path(hydra.runtime.output_dir)
    where = run_dir.name
    if hydra.mode == RunMode.MULTIRUN:
        where = f"{run_dir.parent.name}/{run_dir.name}"
    name = " ".join([where, *job_overrides(hydra)])
    return name if len(name) <= MAX_RUN_NAME else name[: MAX_RUN_NAME - 1] + "…"


def job_overrides(hydra: Any) -> list[str]:
    """The run's command-line overrides but where it writes (``paths.``, ``hydra``); a
    multirun job's only those its sweep varies."""
    parsed = OverridesParser.create().parse_overrides(list(hydra.overrides.task))
    overrides = [o for o in parsed if not o.key_or_group.startswith(("paths.", "hydra"))]
    if hydra.mode == RunMode.MULTIRUN:
        fixed = _fixed_keys(Path(hydra.sweep.dir))
        overrides = [o for o in overrides if o.key_or_group not in fixed]
    return [o.input_line for o in overrides]


def _fixed_keys(sweep_dir: Path) -> set[str]:
    """The keys a sweep's command line sets to one value, as Hydra saved it in
    ``multirun.yaml`` before any job: the same in every job, so no part of a job's name."""
    try:
        saved = OmegaConf.load(sweep_dir / "multirun.yaml")
        line = list(OmegaConf.select(saved, "hydra.overrides.task", default=None) or [])
        parsed = OverridesParser.create().parse_overrides(line)
    except Exception:  # gone or damaged: the name keeps every override
        return set()
    return {o.key_or_group for o in parsed if not o.is_sweep_override()}


def group_choices() -> dict[str, str]:
    """``{"loss": "focal_dice", "model": "unet", ...}``: the config groups chosen for this run,
    the params a reader filters on first (which loss won); Hydra's own and unset ones left out."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {g: str(c) for g, c in choices.items() if c is not None and not g.startswith("hydra")}


def sweep_tags() -> dict[str, str]:
    """``sweep`` (the sweep's directory) and ``sweep_job`` for a multirun job, else nothing."""
    if not HydraConfig.initialized():
        return {}
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN:
        return {}
    return {"sweep": str(Path(hydra.sweep.dir).resolve()), "sweep_job": str(hydra.job.num)}


class TrackerGuard:
    """A tracker whose call fails (its server died, the network went) is warned about once and
    left alone for the rest of the run, so training neither stops nor waits on it; ``lost``
    says what failed, for ``result.json``. Each call is bounded by ``limits()``."""

    service = "tracker"
    key = "logger"
    lost: str | None = None

    def limits(self) -> Any:
        return nullcontext()

    def guarded(self, what: str, call: Callable, *args: Any, **kwargs: Any) -> Any:
        if self.lost is not None:
            return None
        try:
            with self.limits():
                return call(*args, **kwargs)
        except Exception as error:
            self.lost = f"{what}: {reason(error)}"
            log.warning(
                "%s (%s) failed while %s (%s); training goes on without it, and metrics.csv "
                "and result.json keep the whole record", self.service, self.key, what,
                reason(error),
            )  # fmt: skip
            return None

    # Lightning's logger methods, each guarded; super() is the tracker's own logger class
    def log_hyperparams(self, params: Any) -> None:
        self.guarded("logging params", super().log_hyperparams, params)

    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        self.guarded("logging metrics", super().log_metrics, metrics, step)

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        self.guarded("logging a checkpoint", super().after_save_checkpoint, checkpoint_callback)

    def finalize(self, status: str = "success") -> None:
        self.guarded("ending the run", super().finalize, status)


class GuardedMLFlowLogger(TrackerGuard, MLFlowLogger):
    """Lightning's MLflow logger with its HTTP requests bounded by ``timeout_s`` and one retry,
    and each epoch's metrics at step = that epoch, so MLflow's charts count epochs."""

    service = "MLflow"

    def __init__(self, *args: Any, timeout_s: float = DEFAULT_TIMEOUT_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_s, self.key = timeout_s, "logger.mlflow.tracking_uri"

    def limits(self) -> Any:
        return mlflow_limits(self.timeout_s, retries=1)

    def log_metrics(self, metrics: Any, step: int | None = None) -> None:
        """Lightning's step is the optimizer step count, with the ``epoch`` (from 0, as
        metrics.csv counts) among the metrics; every metric the module logs is per epoch."""
        super().log_metrics(metrics, epoch_step(metrics, step))


def epoch_step(metrics: Any, step: int | None) -> int | None:
    """The epoch Lightning adds to the metrics it logs (``EpochLearningRateMonitor`` adds it to
    the learning rate); ``step`` for a call without one."""
    epoch = metrics.get("epoch")
    return step if epoch is None else int(epoch)


class GuardedWandbLogger(TrackerGuard, WandbLogger):
    """Lightning's W&B logger; its own background process sends the data."""

    service, key = "W&B", "logger.wandb"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lightning passes wandb.init anonymous=None even when unset, and W&B (0.31 here)
        # warns at every run that this deprecated setting has no effect
        self._wandb_init.pop("anonymous", None)


def mlflow_logger(
    tracking_uri: str,
    experiment_name: str = "seg_f1",
    artifact_location: str | None = None,
    log_model: bool = False,
    run_name: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> MLFlowLogger:
    """One experiment for the project, its runs tagged with their sweep.

    ``artifact_location`` is where a new experiment on a local ``sqlite:`` store keeps its
    files (MLflow's default is ``./mlruns`` in whatever folder the run starts from); a remote
    ``tracking_uri`` keeps them where its server says. ``log_model``: the kept checkpoints too.
    ``timeout_s`` bounds each request to a tracking server. ``run_name``: the run's name in
    MLflow's UI, by default its directory and overrides (``job_run_name``).
    """
    local = make_local_store(tracking_uri)
    return GuardedMLFlowLogger(
        timeout_s=timeout_s,
        experiment_name=experiment_name,
        run_name=run_name or job_run_name(),
        tracking_uri=tracking_uri,
        tags=sweep_tags() or None,
        log_model=log_model,
        artifact_location=Path(artifact_location).resolve().as_uri()
        if local and artifact_location
        else None,
    )


def wandb_logger(
    save_dir: str,
    project: str = "seg_f1",
    offline: bool | None = None,
    log_model: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> WandbLogger:
    """Online with an API key, offline files under ``<save_dir>/wandb`` without one (``wandb
    sync`` uploads them later); a sweep's jobs share a W&B group named after the sweep.
    ``timeout_s``: how long an online run's server may take to answer the check before the run
    (``seg_f1.runs.services.check_wandb``); W&B's own process sends the metrics after that."""
    tags = sweep_tags()
    logger = GuardedWandbLogger(
        save_dir=save_dir,
        project=project,
        offline=not has_wandb_key() if offline is None else offline,
        log_model=log_model,
        name=job_run_name(),
        group=tags.get("sweep"),
        tags=[f"sweep_job={tags['sweep_job']}"] if tags else None,
    )
    logger.timeout_s = timeout_s
    return logger


def flat_config(cfg: DictConfig) -> dict[str, object]:
    """``{"loss.dice_weight": 0.5, ...}``: the keys a command-line override uses."""
    flat: dict[str, object] = {}

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            flat[prefix.rstrip(".")] = node

    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return flat


def log_config(loggers: list[Logger], cfg: DictConfig) -> None:
    """The full resolved config as params, and each group's choice (``loss: focal_dice``),
    before the first epoch (a running run shows them)."""
    params = {**group_choices(), **flat_config(cfg)}
    for logger in loggers:
        if isinstance(logger, (MLFlowLogger, WandbLogger)):
            logger.log_hyperparams(params)


def publish_run(trainer: L.Trainer, cfg: DictConfig, best: float) -> None:
    """After fit and test: TensorBoard's hparams with the best metric, reports as artifacts."""
    run_dir = Path(cfg.paths.output_dir)
    reports = sorted(p for pattern in REPORT_FILES for p in run_dir.glob(pattern))
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(flat_config(cfg), {"hp_metric": best})
        elif isinstance(logger, MLFlowLogger):

            def upload(logger: MLFlowLogger = logger) -> None:
                for path in reports:
                    logger.experiment.log_artifact(logger.run_id, str(path), "reports")

            _guarded(logger, "uploading the reports", upload)
        elif isinstance(logger, WandbLogger):

            def save(logger: WandbLogger = logger) -> None:
                # copied into the run's files folder, which W&B uploads as the run ends (or
                # `wandb sync` does): wandb.save would print a symlink warning per file
                for path in reports:
                    shutil.copy2(path, Path(logger.experiment.dir) / path.name)
                # Lightning leaves the W&B run open: the next job of a sweep would log into it
                logger.experiment.finish()

            _guarded(logger, "uploading the reports", save)


def lost_trackers(loggers: list[Logger]) -> dict[str, str]:
    """``{key: what failed}`` for each tracker that stopped answering during the run."""
    return {g.key: g.lost for g in loggers if isinstance(g, TrackerGuard) and g.lost}


def _guarded(logger: Logger, what: str, call: Callable[[], None]) -> None:
    if isinstance(logger, TrackerGuard):
        logger.guarded(what, call)
    else:
        call()

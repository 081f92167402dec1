"""Experiment trackers beyond metrics.csv: MLflow on a database, TensorBoard hparams, W&B.

Lightning's loggers already receive every metric as it is logged; this module adds what they do
not know: the whole resolved config as flat params, the sweep a run belongs to, the best
``optimized_metric`` for TensorBoard's hparams view, and the run's reports as artifacts.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf

# what RunReports, CurveDiagnosis and the config tree leave in the run directory
REPORT_FILES = ("*.png", "diagnosis.md", "curves.md", "per_class_f1.csv", "config_tree.log")


def sweep_tags() -> dict[str, str]:
    """``sweep`` (the sweep's directory) and ``sweep_job`` for a multirun job, else nothing."""
    if not HydraConfig.initialized():
        return {}
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN:
        return {}
    return {"sweep": str(Path(hydra.sweep.dir).resolve()), "sweep_job": str(hydra.job.num)}


def mlflow_logger(
    tracking_uri: str,
    experiment_name: str = "seg_f1",
    artifact_location: str | None = None,
    log_model: bool = False,
    run_name: str | None = None,
) -> MLFlowLogger:
    """One experiment for the project, its runs tagged with their sweep.

    ``artifact_location`` is where a new experiment on a local ``sqlite:`` store keeps its
    files (MLflow's default is ``./mlruns`` in whatever folder the run starts from); a remote
    ``tracking_uri`` keeps them where its server says. ``log_model``: the kept checkpoints too.
    """
    local = tracking_uri.startswith("sqlite:")
    if local:
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MLFlowLogger(
        experiment_name=experiment_name,
        run_name=run_name,
        tracking_uri=tracking_uri,
        tags=sweep_tags() or None,
        log_model=log_model,
        artifact_location=Path(artifact_location).resolve().as_uri()
        if local and artifact_location
        else None,
    )


def has_wandb_key() -> bool:
    """``WANDB_API_KEY``, or the key ``wandb login`` writes to ``~/.netrc``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_logger(
    save_dir: str, project: str = "seg_f1", offline: bool | None = None, log_model: bool = False
) -> WandbLogger:
    """Online with an API key, offline files under ``<save_dir>/wandb`` without one (``wandb
    sync`` uploads them later); a sweep's jobs share a W&B group named after the sweep."""
    tags = sweep_tags()
    return WandbLogger(
        save_dir=save_dir,
        project=project,
        offline=not has_wandb_key() if offline is None else offline,
        log_model=log_model,
        group=tags.get("sweep"),
        tags=[f"sweep_job={tags['sweep_job']}"] if tags else None,
    )


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
    """The full resolved config as params, before the first epoch (a running run shows them)."""
    params = flat_config(cfg)
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
            for path in reports:
                logger.experiment.log_artifact(logger.run_id, str(path), "reports")
        elif isinstance(logger, WandbLogger):
            for path in reports:
                logger.experiment.save(str(path), base_path=str(run_dir), policy="now")
            # Lightning leaves the W&B run open: the next job of a sweep would log into it
            logger.experiment.finish()

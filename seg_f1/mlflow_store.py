"""MLflow on a local file store: no server, nothing to migrate, readable with ``mlflow ui``."""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch.loggers import MLFlowLogger


def local_mlflow_logger(save_dir: str, experiment_name: str = "seg_f1", **kwargs) -> MLFlowLogger:
    """MLflow 3 refuses file stores unless told they are wanted; a run directory is the point."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = Path(save_dir).resolve().as_uri()
    return MLFlowLogger(experiment_name=experiment_name, tracking_uri=uri, **kwargs)

"""MLflow's charts count epochs: each epoch's metrics are logged at step=epoch, not at the
optimizer step count Lightning passes (thousands of steps between two points)."""

from __future__ import annotations

import os

import pytest

from seg_f1.training import train

EPOCH_METRICS = ("val/f1", "train/f1", "train/loss", "val/loss", "train/loss_dice", "val/f1_skin")


@pytest.mark.slow
def test_epoch_metrics_are_logged_at_their_epoch(compose_cfg, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    for name in [k for k in os.environ if k.startswith("MLFLOW_")]:
        monkeypatch.delenv(name)
    # two batches an epoch: the global step is not the epoch (0, 1, 2)
    train(
        compose_cfg("logger=mlflow", "trainer.max_epochs=3", "callbacks.curve_diagnosis.window=2")
    )
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("seg_f1")
    (run,) = client.search_runs([experiment.experiment_id])
    for name in EPOCH_METRICS:
        history = client.get_metric_history(run.info.run_id, name)
        assert sorted(m.step for m in history) == [0, 1, 2], name
    (rate,) = [name for name in run.data.metrics if name.startswith("lr-")]  # the monitor's
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, rate)) == [0, 1, 2]
    epochs = client.get_metric_history(run.info.run_id, "epoch")
    assert all(m.step == m.value for m in epochs)
    cases = client.get_metric_history(run.info.run_id, "diag/case")  # once the window is full
    assert sorted(m.step for m in cases) == [1, 2]
    (test_f1,) = client.get_metric_history(run.info.run_id, "test/f1")
    assert test_f1.step == 3  # after the third epoch

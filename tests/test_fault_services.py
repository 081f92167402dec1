"""Dead or malformed services: an MLflow server that is down, one that accepts and never answers,
one stopped mid-run, an online W&B with no server, and a sweep database that is down or
misspelt. Each is made real (a closed port, a socket that never answers, a real `mlflow
server` on loopback killed between epochs) and ends in one line naming the key, or, mid-run, in
one warning while training goes on."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
from conftest import ROOT, TINY, run_env
from faults import free_port, serve_mlflow, stop

from seg_f1 import training
from seg_f1.runs.results import read_result
from seg_f1.runs.services import ServiceUnreachable, mask_url
from seg_f1.sweeps.study import check_storage
from seg_f1.training import train


@pytest.fixture
def no_data(monkeypatch):
    """The run must end before it reads or generates any data."""
    monkeypatch.setattr(training, "build_datamodule", lambda cfg: pytest.fail("data was read"))


def timed_refusal(cfg, match: str) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(ServiceUnreachable, match=match) as refused:
        train(cfg)
    return str(refused.value), time.monotonic() - start


def test_a_dead_mlflow_server_ends_the_run_at_once_naming_the_key(compose_cfg, tmp_path, no_data):
    port = free_port()
    cfg = compose_cfg(
        "logger=mlflow", f"logger.mlflow.tracking_uri=http://seg:s3cret@127.0.0.1:{port}"
    )
    message, seconds = timed_refusal(
        cfg, rf"^logger.mlflow.tracking_uri=http://seg:\*\*\*@127.0.0.1:{port}: "
    )
    assert "s3cret" not in message and "\n" not in message
    assert (
        "Connection refused" in message and "mlflow server" in message and "logger=csv" in message
    )
    assert seconds < 30, f"{seconds:.1f} s"  # MLflow's own retries take about 4 minutes
    result = read_result(tmp_path / "result.json")
    assert result["status"] == "failed" and "logger.mlflow.tracking_uri" in result["error"]


def test_a_server_that_accepts_and_never_answers_is_given_up_after_timeout_s(compose_cfg, no_data):
    with socket.socket() as silent:  # the kernel accepts connections; nobody reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        cfg = compose_cfg("logger=mlflow", f"logger.mlflow.tracking_uri=http://127.0.0.1:{port}",
                          "logger.mlflow.timeout_s=2")  # fmt: skip
        message, seconds = timed_refusal(cfg, "did not answer within 2 s")
    assert seconds < 20, f"{seconds:.1f} s"


def test_a_malformed_tracking_uri_is_named(compose_cfg, no_data):
    cfg = compose_cfg("logger=mlflow", "logger.mlflow.tracking_uri=htp://127.0.0.1:5000")
    timed_refusal(cfg, r"logger.mlflow.tracking_uri=htp://127.0.0.1:5000: not a tracking store")


def test_online_wandb_without_its_server_fails_fast_and_offline_needs_none(
    compose_cfg, monkeypatch, no_data
):
    port = free_port()
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = compose_cfg("logger=wandb", "logger.wandb.offline=false")
    message, seconds = timed_refusal(cfg, rf"^logger.wandb: online W&B at http://127.0.0.1:{port}")
    assert "logger.wandb.offline=true" in message and seconds < 30
    from seg_f1.runs.services import check_trackers

    check_trackers(compose_cfg("logger=wandb", "logger.wandb.offline=true").logger)  # no server


def test_a_sweep_database_that_is_down_or_misspelt_is_named(tmp_path):
    port = free_port()
    down = f"postgresql+psycopg://seg:s3cret@127.0.0.1:{port}/optuna"
    start = time.monotonic()
    with pytest.raises(ServiceUnreachable, match=r"^hydra.sweeper.storage=.*did not answer") as e:
        check_storage(down, timeout_s=2)
    assert time.monotonic() - start < 10 and "s3cret" not in str(e.value)
    assert mask_url(down) in str(e.value) and "Connection refused" in str(e.value)
    for malformed in ("postgres://seg@127.0.0.1/optuna", "sqlite//optuna.db", "nosuchdb://x"):
        with pytest.raises(ServiceUnreachable, match=r"not a storage URL this install can open"):
            check_storage(malformed, timeout_s=2)
    check_storage(f"sqlite:///{tmp_path}/optuna.db", timeout_s=2)  # a fine one passes
    check_storage(f"journal:///{tmp_path}/optuna.log", timeout_s=2)


@pytest.mark.slow
def test_an_optuna_sweep_with_its_database_down_stops_before_any_trial(tmp_path, data_dir):
    storage = f"postgresql+psycopg://seg:s3cret@127.0.0.1:{free_port()}/optuna"
    command = [sys.executable, "train.py", "-m", "hparams_search=optuna", *TINY,
               f"paths.data_dir={data_dir}", f"hydra.sweep.dir={tmp_path}",
               f"hydra.sweeper.storage='{storage}'", "hydra.sweeper.timeout_s=2"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=run_env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "hydra.sweeper.storage=postgresql+psycopg://seg:***@127.0.0.1" in last, done.stderr
    assert "s3cret" not in done.stderr and not (tmp_path / "0").exists()


class StopServer(L.Callback):
    """Kills the MLflow server (its whole process group) when the first epoch ends."""

    def __init__(self, pid: int, port: int) -> None:
        self.pid, self.port = pid, port
        self.killed_at: float | None = None

    def on_train_epoch_end(self, trainer, module) -> None:
        if trainer.current_epoch == 0:
            os.killpg(self.pid, signal.SIGKILL)
            while True:  # gone once its port refuses
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                        break
                time.sleep(0.1)
            StopServer.killed_at = time.monotonic()


@pytest.mark.slow
def test_a_tracker_that_dies_mid_run_is_warned_once_and_training_goes_on(
    compose_cfg, tmp_path, caplog
):
    port = free_port()
    server = serve_mlflow(f"sqlite:///{tmp_path / 'server.db'}", port, tmp_path / "server.log")
    try:
        cfg = compose_cfg(
            "logger=mlflow", f"logger.mlflow.tracking_uri=http://127.0.0.1:{port}",
            "logger.mlflow.timeout_s=30", "trainer.max_epochs=3",  # a loaded machine's server
            f"+callbacks.stop_server._target_={__name__}.StopServer",
            f"+callbacks.stop_server.pid={server.pid}", f"+callbacks.stop_server.port={port}",
        )  # fmt: skip
        with caplog.at_level(logging.WARNING):
            best = train(cfg)
        after_kill = time.monotonic() - StopServer.killed_at
    finally:
        stop(server)
    assert 0.0 <= best <= 1.0
    warnings = [
        r for r in caplog.records if "MLflow (logger.mlflow.tracking_uri) failed" in r.message
    ]
    assert len(warnings) == 1, [r.message for r in warnings]
    result = read_result(tmp_path / "result.json")
    assert result["status"] == "ok" and result["epochs"] == 3
    assert "logger.mlflow.tracking_uri" in result["trackers_lost"]
    rows = Path(tmp_path / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    f1 = [row.split(",")[header.index("val/f1")] for row in rows[1:]]
    assert len([value for value in f1 if value]) == 3  # every epoch, after the server died too
    assert after_kill < 120, f"{after_kill:.1f} s after the server died"


def test_the_sweep_report_says_why_a_study_whose_database_is_down_is_missing(tmp_path):
    from omegaconf import OmegaConf

    from seg_f1.sweeps.study import SWEEPER, study_of

    storage = f"postgresql+psycopg://seg@127.0.0.1:{free_port()}/optuna"
    sweeper = {"_target_": SWEEPER, "storage": storage, "study_name": "s", "timeout_s": 2}
    OmegaConf.save({"hydra": {"sweeper": sweeper}}, tmp_path / "multirun.yaml")
    study, _, why_not = study_of(tmp_path)
    assert study is None
    assert why_not.startswith(f"hydra.sweeper.storage in {tmp_path / 'multirun.yaml'}={storage}")
    assert "did not answer within 2 s" in why_not

"""A study whose storage fails mid-sweep: a real SQLite file on a real tmpfs that fills up while
a trial trains. The sweep ends in one line naming the storage, the reason and what to do, and
the trial's result.json says the study did not take its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
from conftest import ROOT, TINY, run_env
from faults import fill, postgres_server, tmpfs

from seg_f1.runs.results import read_result


class StopServer(L.Callback):
    """Stops the study's PostgreSQL server once the trial has trained (``pg_ctl ... stop``)."""

    def __init__(self, stop: list[str]) -> None:
        self.stop = list(stop)

    def on_train_end(self, trainer, module) -> None:
        subprocess.run([*self.stop, "stop"], capture_output=True, timeout=60, check=True)


class FillStudyDisk(L.Callback):
    """Fills the disk under the study once the trial has trained: its result cannot be told."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_train_end(self, trainer, module) -> None:
        fill(Path(self.folder))


def sweep_with(tmp_path, storage: str, *callback: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "train.py", "-m", "hparams_search=optuna", *TINY,
        f"paths.data_dir={tmp_path / 'data'}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"hydra.sweeper.storage='{storage}'", "hydra.sweeper.n_trials=2", "test=false",
        "hydra.sweeper.study_name=broken", "~callbacks.run_reports", *callback,
    ]  # fmt: skip
    env = {**run_env(), "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)])}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def failure_line(done: subprocess.CompletedProcess) -> str:
    said = done.stdout + done.stderr
    assert done.returncode != 0, said[-3000:]
    line = next(
        (text for text in said.splitlines() if "the study could not be written" in text), None
    )
    assert line is not None, said[-3000:]
    return line


@pytest.mark.slow
def test_a_database_server_gone_mid_sweep_ends_the_sweep_in_one_line(tmp_path):
    with postgres_server() as (url, pg_ctl):
        stop = "[" + ",".join(f"'{part}'" for part in pg_ctl) + "]"
        done = sweep_with(tmp_path, url, f"+callbacks.stop._target_={__name__}.StopServer",
                          f"+callbacks.stop.stop={stop}")  # fmt: skip
    line = failure_line(done)
    assert f"hydra.sweeper.storage={url}" in line
    assert "restart the database server or fix the connection" in line
    record = read_result(tmp_path / "sweep" / "0" / "result.json")
    assert record["status"] == "ok" and record["study"]["state"].startswith("RUNNING")


@pytest.mark.slow
def test_a_full_disk_under_the_sqlite_study_ends_the_sweep_in_one_line(tmp_path):
    with tmpfs(tmp_path / "disk", "2m") as disk:
        storage = f"sqlite:///{disk / 'study.db'}"
        sweep = tmp_path / "sweep"
        done = sweep_with(tmp_path, storage, f"+callbacks.fill._target_={__name__}.FillStudyDisk",
                          f"+callbacks.fill.folder={disk}")  # fmt: skip
    line = failure_line(done)
    assert f"hydra.sweeper.storage={storage}" in line and "[ENOSPC]" in line
    assert f"free space on the disk that holds {disk}" in line
    assert "run the same command again: the study continues" in line
    record = read_result(sweep / "0" / "result.json")
    assert record["status"] == "ok"  # the training itself finished
    assert record["study"]["error"] == line.split("StudyWriteFailed: ")[-1].strip()
    assert record["study"]["state"].startswith(("FAIL", "RUNNING"))
    json.dumps(record)

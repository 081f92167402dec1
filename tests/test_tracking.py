"""MLflow on SQLite (read back, and served over HTTP), TensorBoard hparams, W&B offline files."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, TINY
from faults import free_port, mlflow_env, serve_mlflow, stop

from seg_f1.training import train

REPORTS = {"curves.png", "per_class_f1.png", "confusion.png", "predictions.png", "diagnosis.md"}


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


@pytest.mark.slow
def test_mlflow_sweep_shares_one_sqlite_experiment_readable_and_served(tmp_path, data_dir):
    from mlflow.tracking import MlflowClient

    elsewhere, root = tmp_path / "elsewhere", tmp_path / "root"
    elsewhere.mkdir()
    overrides = [*TINY, "trainer.max_epochs=2", f"paths.data_dir={data_dir}",
                 f"paths.root_dir={root}", "logger=mlflow", "seed=1,2"]  # fmt: skip
    command = [sys.executable, str(ROOT / "train.py"), "-m", *overrides]
    done = subprocess.run(command, cwd=elsewhere, env=mlflow_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]
    assert list(elsewhere.iterdir()) == []  # no ./mlruns, ./outputs or ./data where it started
    # the whole config tree once per sweep (job 0), job 1 its choices, overrides and the file
    assert done.stdout.count("focal_weight: 1.0") == 1
    assert done.stdout.count("config: data=synthetic model=unet loss=focal_dice") == 1

    store = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("seg_f1")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    sweeps = {run.data.tags["sweep"] for run in runs}
    (sweep_dir,) = sweeps
    assert Path(sweep_dir).parent == root / "outputs" / "multirun"
    assert sorted(run.data.tags["sweep_job"] for run in runs) == ["0", "1"]
    # named by their folder and the override the sweep varies, not by a random name drawn after
    # seeding; the group choices are params, the model's settings only under model.*
    sweep_time = Path(sweep_dir).name
    names = {r.data.tags["sweep_job"]: r.info.run_name for r in runs}
    assert names == {"0": f"{sweep_time}/0 seed=1", "1": f"{sweep_time}/1 seed=2"}
    run = min(runs, key=lambda r: r.data.tags["sweep_job"])
    params = run.data.params
    assert params["loss"] == "focal_dice" and params["model"] == "unet"
    assert params["data"] == "synthetic" and "hydra/launcher" not in params
    assert not {"arch", "encoder_name", "class_names", "mean"} & set(params)
    assert params["model.encoder_name"] == "resnet18"
    assert params["seed"] == "1" and params["loss.dice_weight"] == "0.5"
    assert params["optimizer.lr"] == "0.003" and params["trainer.max_epochs"] == "2"
    history = client.get_metric_history(run.info.run_id, "val/f1")
    assert [m.step for m in history] and len(history) == 2  # one value per epoch
    assert {"test/f1", "val/loss", "train/loss"} <= set(run.data.metrics)
    artifacts = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "reports")}
    assert artifacts >= REPORTS
    assert str(root / "mlartifacts") in run.info.artifact_uri

    port = free_port()
    server = serve_mlflow(store, port, tmp_path / "server.log")
    try:
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        served = get_json(f"{api}/runs/get?run_id={run.info.run_id}")["run"]
        served_params = {p["key"]: p["value"] for p in served["data"]["params"]}
        assert served_params["loss.dice_weight"] == "0.5"
        served_f1 = {m["key"]: m["value"] for m in served["data"]["metrics"]}["val/f1"]
        assert served_f1 == pytest.approx(history[-1].value)
    finally:
        stop(server)


@pytest.mark.slow
def test_tensorboard_hparams_carry_the_best_val_f1(compose_cfg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    best = train(compose_cfg("logger=tensorboard", "trainer.max_epochs=2"))
    accumulator = EventAccumulator(str(tmp_path / "tensorboard"))  # every event file there
    accumulator.Reload()
    assert [e.value for e in accumulator.Scalars("hp_metric")] == [pytest.approx(best)]
    assert best != -1 and 0 <= best <= 1
    assert "_hparams_/session_start_info" in accumulator.PluginTagToContent("hparams")


def wandb_records(path: Path) -> list:
    """The records of an offline ``run-*.wandb`` file: LevelDB log chunks (4-byte CRC, 2-byte
    length, 1-byte type in 32 KiB blocks) after a 7-byte ``:W&B`` header, each a protobuf."""
    from wandb.proto.wandb_internal_pb2 import Record

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B", f"{path} is not a W&B run log"
    records, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack_from("<HB", data, pos + 4)
        if kind == 0:
            break
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a whole record, or its last chunk
            records.append(Record.FromString(pending))
            pending = b""
    return records


def wandb_items(records: list, kind: str, field: str) -> list[tuple[str, object]]:
    """(key, value) of every item of the ``kind`` records (a key may sit in ``nested_key``)."""
    return [(item.key or "/".join(item.nested_key), json.loads(item.value_json))
            for record in records if record.WhichOneof("record_type") == kind
            for item in getattr(getattr(record, kind), field)]  # fmt: skip


@pytest.mark.slow
def test_wandb_runs_offline_without_a_key_and_keeps_config_and_reports(
    compose_cfg, tmp_path, monkeypatch, capfd
):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    best = train(compose_cfg("logger=wandb"))
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    (log,) = run_dir.glob("run-*.wandb")  # what `wandb sync` uploads later
    records = wandb_records(log)
    config = dict(wandb_items(records, "config", "update"))
    assert config["loss.dice_weight"] == 0.5 and config["seed"] == 42
    history = wandb_items(records, "history", "item")
    assert [value for key, value in history if key == "val/f1"] == [pytest.approx(best)]
    assert "test/f1" in dict(history)
    assert {p.name for p in (run_dir / "files").iterdir()} >= REPORTS
    assert not (run_dir / "files" / "curves.png").is_symlink()  # a copy: no warning per file
    run = next(r.run for r in records if r.WhichOneof("record_type") == "run")
    assert run.display_name.startswith(f"{tmp_path.name} data.image_size=32 ")  # as in MLflow
    assert "Symlinked" not in capfd.readouterr().err


def test_a_single_run_is_named_by_its_folder_and_overrides_within_mlflows_limit(
    compose_cfg, tmp_path
):
    from seg_f1.runs.tracking import MAX_RUN_NAME, group_choices, job_run_name

    compose_cfg("loss=ce_dice", tiny=False)
    assert job_run_name() == f"{tmp_path.name} loss=ce_dice"  # paths.data_dir left out
    assert group_choices()["loss"] == "ce_dice" and "hparams_search" not in group_choices()
    compose_cfg("loss=ce_dice")  # the tiny sizes' dozen overrides: cut at MLflow's 250
    name = job_run_name()
    assert len(name) == MAX_RUN_NAME and name.endswith("…")
    assert name.startswith(f"{tmp_path.name} data.image_size=32 ")

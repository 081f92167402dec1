"""Whole runs through the real conf/ tree: in-process via compose, and train.py as a process."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY, run_env

from seg_f1.training import train

LOSSES = sorted(p.stem for p in (ROOT / "conf" / "loss").glob("*.yaml"))


def read_metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def column(rows: list[dict[str, str]], name: str) -> list[float]:
    return [float(row[name]) for row in rows if row.get(name)]


def test_train_returns_best_val_f1_and_logs_every_term(compose_cfg, tmp_path):
    best = train(compose_cfg("trainer.max_epochs=2"))
    rows = read_metrics(tmp_path)
    val_f1 = column(rows, "val/f1")
    assert len(val_f1) == 2
    assert best == pytest.approx(max(val_f1), abs=1e-6)
    assert column(rows, "val/f1_best")[-1] == pytest.approx(max(val_f1), abs=1e-6)
    for name in ("train/loss", "val/loss", "train/loss_focal", "train/loss_dice", "train/f1"):
        assert len(column(rows, name)) == 2, name
    assert len(column(rows, "val/f1_l_eye")) == 2
    assert len(column(rows, "test/f1")) == 1


def test_checkpoint_stores_class_names_and_config(compose_cfg, tmp_path):
    train(compose_cfg())
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["class_names"][4] == "l_eye"
    assert checkpoint["config"]["loss"]["dice_weight"] == 0.5
    assert checkpoint["hyper_parameters"]["encoder_name"] == "resnet18"


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_config_trains_two_steps(compose_cfg, loss):
    best = train(compose_cfg(f"loss={loss}", "test=false"))
    assert math.isfinite(best) and 0.0 <= best <= 1.0


def test_class_weight_method_trains(compose_cfg, data_dir):
    assert math.isfinite(train(compose_cfg("loss.class_weights=median_freq", "test=false")))
    assert list(data_dir.rglob("class_weights_median_freq-*.pt"))  # keyed by the masks


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("loss.dice_weight=-1", "loss.dice_weight"),
        ("optimized_metric=val/f2", "'val/f2'"),
        ("loss.class_weights=/no/such/weights.pt", "/no/such/weights.pt"),
        ("model.encoder_weights=/no/such/encoder.pth", "/no/such/encoder.pth"),
    ],
)
def test_bad_override_fails_before_training_naming_the_key(compose_cfg, tmp_path, override, named):
    with pytest.raises(Exception) as error:  # noqa: B017 - Hydra may wrap it; the text matters
        train(compose_cfg(override))
    assert named in str(error.value)
    assert not (tmp_path / "checkpoints").exists()
    assert not (tmp_path / "metrics.csv").exists()


def test_unknown_optimized_metric_lists_the_known_ones(compose_cfg):
    with pytest.raises(ValueError, match=r"val/f1, .*val/f1_l_eye"):
        train(compose_cfg("optimized_metric=val/iou"))


def run_train(*args: str, data_dir: Path) -> subprocess.CompletedProcess:
    flags = [arg for arg in args if arg.startswith("-")]  # Hydra wants -m before overrides
    overrides = [arg for arg in args if not arg.startswith("-")]
    command = [sys.executable, "train.py", *flags, *TINY, f"paths.data_dir={data_dir}", *overrides]
    return subprocess.run(
        command, cwd=ROOT, env=run_env(), capture_output=True, text=True, timeout=600
    )


def test_train_py_writes_checkpoint_metrics_and_f1_table(tmp_path, data_dir):
    result = run_train(f"hydra.run.dir={tmp_path}", data_dir=data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert len(list((tmp_path / "checkpoints").glob("epoch000-f1*.ckpt"))) == 1
    assert column(read_metrics(tmp_path), "val/f1")
    assert "test F1 per class" in result.stdout and "l_eye" in result.stdout
    said = result.stdout + result.stderr
    assert said.index(f"train: run directory {tmp_path}") < said.index("test F1 per class")
    assert f"train done; its log and results are in {tmp_path}" in said
    number = r"\d+\.\d{4}"
    line = (
        rf"epoch 1/1: train loss {number} F1 {number} \| val loss {number} F1 {number} "
        r"\| lr 0\.003 \| \d+\.\d s"
    )  # lr: conf/optimizer/adamw.yaml's 3e-3, the rate the epoch trained with
    assert len(re.findall(line, result.stdout)) == 1, result.stdout[-2000:]
    assert len(re.findall(line, (tmp_path / "train.log").read_text())) == 1


def test_multirun_over_dice_weight_finishes_both_jobs(tmp_path, data_dir):
    result = run_train(
        "-m", "loss.dice_weight=0.3,0.8", f"hydra.sweep.dir={tmp_path}", "test=false",
        data_dir=data_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for job in ("0", "1"):
        assert column(read_metrics(tmp_path / job), "val/f1"), job
    overrides = (tmp_path / "1" / ".hydra" / "overrides.yaml").read_text()
    assert "loss.dice_weight=0.8" in overrides
    best = max((json.loads((tmp_path / j / "result.json").read_text())["best"], j) for j in "01")
    said = result.stdout + result.stderr
    found = f"2 of 2 trials finished; the best is trial {best[1]}: val/f1 {best[0]:.4f}"
    assert f"{found}, loss focal_dice" in said
    (command,) = re.findall(r"train it: (python -m seg_f1\.train .*)", said)
    assert f"loss.dice_weight={'0.3' if best[1] == '0' else '0.8'}" in command.split()
    assert "limit_" not in command  # the search's budget is not the run to keep


def test_train_py_rejects_bad_override_by_key(tmp_path, data_dir):
    result = run_train(f"hydra.run.dir={tmp_path}", "loss.dice_weight=-1", data_dir=data_dir)
    assert result.returncode != 0
    assert "loss.dice_weight" in result.stderr
    assert not (tmp_path / "checkpoints").exists()

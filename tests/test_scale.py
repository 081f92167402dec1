"""Scaling from configuration: trainer presets, DDP that agrees with one process, bf16 on the
CPU, channels_last, the submitit launcher, and the commands docs/scaling.md tells users to run."""

from __future__ import annotations

import csv
import math
import pickle
import re
import shlex
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import ROOT, TINY, run_env
from torch.utils.data import DataLoader, Subset

from seg_f1.metrics import f1_from_confusion
from seg_f1.module import SegmentationModule
from seg_f1.training import build_datamodule, build_module, train

PRESETS = ("cpu", "gpu", "ddp", "ddp_cpu")
CLASSES = ["background", "skin", "nose"]


def read_metrics(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def rows_with(rows: list[dict[str, str]], name: str) -> list[dict[str, str]]:
    return [row for row in rows if row.get(name)]


@pytest.mark.parametrize(
    ("preset", "precision"),
    zip(PRESETS, ["bf16-mixed", "16-mixed", "32-true", "bf16-mixed"], strict=True),
)
def test_every_preset_takes_precision_and_num_nodes(compose_cfg, preset, precision):
    cfg = compose_cfg(f"trainer={preset}", f"trainer.precision={precision}", "trainer.num_nodes=2")
    assert cfg.trainer.precision == precision
    assert cfg.trainer.num_nodes == 2
    assert cfg.trainer.on_nan == "skip"  # module settings from cpu.yaml reach every preset


def test_presets_select_their_hardware(compose_cfg):
    gpu, ddp, ddp_cpu = (
        compose_cfg(f"trainer={name}").trainer for name in ("gpu", "ddp", "ddp_cpu")
    )
    assert (gpu.accelerator, gpu.devices, gpu.get("strategy")) == ("gpu", 1, None)
    assert (ddp.accelerator, ddp.strategy, ddp.devices) == ("gpu", "ddp", "auto")
    assert (ddp_cpu.accelerator, ddp_cpu.strategy, ddp_cpu.devices) == ("cpu", "ddp", 2)
    assert compose_cfg().trainer.precision == "auto"  # chosen per machine, docs/scaling.md


def test_channels_last_gives_the_same_logits():
    torch.manual_seed(0)
    plain = SegmentationModule(CLASSES).eval()
    nhwc = SegmentationModule(CLASSES, channels_last=True).eval()
    nhwc.load_state_dict(plain.state_dict())
    assert nhwc.net.encoder.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(nhwc(image), plain(image), atol=1e-4, rtol=1e-4)


def test_misspelt_compile_mode_fails_at_construction_naming_the_key():
    with pytest.raises(ValueError, match=r"model.compile_mode .* 'fastest'"):
        SegmentationModule(CLASSES, compile=True, compile_mode="fastest")


def test_bf16_mixed_on_cpu_trains_two_steps_with_finite_loss(compose_cfg, tmp_path):
    # bf16 is emulated on CPUs without AVX-512-BF16/AMX (~25x slower): batches of 2
    small = ["data.batch_size=2", "data.eval_batch_size=2"]
    best = train(compose_cfg("trainer.precision=bf16-mixed", "test=false", *small))
    rows = read_metrics(tmp_path / "metrics.csv")
    step_losses = [float(row["train/loss"]) for row in rows_with(rows, "train/loss")]
    assert step_losses and all(math.isfinite(value) for value in step_losses)
    assert rows_with(rows, "step")[-1]["step"] == "1"  # two optimizer steps: 0 and 1
    assert math.isfinite(best)


@pytest.mark.slow
def test_ddp_cpu_f1_equals_one_process_and_rank0_writes_once(compose_cfg, tmp_path, data_dir):
    """Five validation images, three on rank 0 and two on rank 1, each counted once (no padded
    duplicate): F1 equals one process's over the split; rank 0's share alone would differ."""
    same_data = [
        "data.source.num_val=5",
        "data.eval_batch_size=2",
        "trainer.limit_val_batches=1.0",
        "test=false",
        "trainer.precision=32-true",  # the same arithmetic in both runs: bf16 sums differ
        "loss=ce",  # a mean over pixels: the same over any batching of the split, unlike Dice
    ]
    command = [sys.executable, str(ROOT / "train.py"), *TINY, f"paths.data_dir={data_dir}",
               f"paths.root_dir={tmp_path}"]  # fmt: skip
    run_dir_parent = tmp_path / "outputs" / "runs"
    result = subprocess.run(
        [*command, *same_data, "trainer=ddp_cpu"],
        cwd=tmp_path,  # the default run directory, <root>/outputs/runs/<time>, lands in tmp_path
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    console = result.stdout + result.stderr
    assert "sync_dist" not in console  # every epoch-level value is reduced over the ranks
    assert console.count("best val/f1 = ") == 1 and console.count("train: run directory") == 1

    run_dirs = list(run_dir_parent.iterdir())
    assert len(run_dirs) == 1, run_dirs  # one Hydra run directory, not one per rank
    run_dir = run_dirs[0]
    assert (run_dir / "train_ddp_process_1.log").is_file()  # the second rank did run
    assert sorted(p.name for p in run_dir.rglob("config.yaml")) == ["config.yaml"]
    assert len(list((run_dir / "checkpoints").glob("*.ckpt"))) == 2  # best + last, once
    ddp_rows = rows_with(read_metrics(run_dir / "metrics.csv"), "val/f1")
    assert len(ddp_rows) == 1  # one epoch, one row: only rank 0 logs

    cfg = compose_cfg(*same_data)
    datamodule = build_datamodule(cfg)
    module = build_module(cfg, datamodule)
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    module.load_state_dict(checkpoint["state_dict"])
    single = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    single.validate(module, datamodule=datamodule, verbose=False)
    assert module.last_confusion["val"].sum() == 5 * 32 * 32  # the whole validation split
    per_class, mean = f1_from_confusion(module.last_confusion["val"])
    ddp_per_class = [float(ddp_rows[0][f"val/f1_{name}"]) for name in module.class_names]
    assert ddp_per_class == pytest.approx(per_class.tolist(), abs=1e-6, nan_ok=True)
    assert float(ddp_rows[0]["val/f1"]) == pytest.approx(mean, abs=1e-6)
    # the loss too is over both ranks' images, not rank 0's
    whole_loss = float(single.callback_metrics["val/loss"])
    assert float(ddp_rows[0]["val/loss"]) == pytest.approx(whole_loss, rel=1e-5)

    # rank 0's own images (0, 2 and 4: every other one) alone give other values
    rank0_half = Subset(datamodule.val_dataloader().dataset, [0, 2, 4])
    single.validate(module, dataloaders=DataLoader(rank0_half, batch_size=2), verbose=False)
    rank0_per_class, _ = f1_from_confusion(module.last_confusion["val"])
    assert rank0_per_class.tolist() != pytest.approx(per_class.tolist(), abs=1e-6, nan_ok=True)
    assert float(single.callback_metrics["val/loss"]) != pytest.approx(whole_loss, rel=1e-5)


@pytest.mark.slow
def test_submitit_local_sweep_runs_a_job_and_returns_its_value(tmp_path, data_dir):
    sweep = tmp_path / "sweep"
    result = subprocess.run(
        [sys.executable, "train.py", "-m", "hydra/launcher=submitit_local", *TINY,
         f"paths.data_dir={data_dir}", f"hydra.sweep.dir={sweep}", "test=false",
         "loss.dice_weight=0.3"],
        cwd=ROOT, env=run_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results = list((sweep / ".submitit").glob("*/*_result.pkl"))
    assert len(results) == 1, results
    with open(results[0], "rb") as handle:
        status, job = pickle.load(handle)
    assert status == "success"
    assert "loss.dice_weight=0.3" in job.overrides
    best_logged = max(
        float(row["val/f1"])
        for row in rows_with(read_metrics(sweep / "0" / "metrics.csv"), "val/f1")
    )
    assert job.return_value == pytest.approx(best_logged, abs=1e-6)


def documented_train_commands() -> list[list[str]]:
    """The overrides of every ``train.py`` command in docs/scaling.md, shell variables removed,
    so a renamed config key breaks this test instead of a user's cluster job."""
    text = (ROOT / "docs" / "scaling.md").read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        match = re.search(r"train\.py\s+(.*)", line)
        if match:
            words = [w for w in shlex.split(match.group(1)) if not w.startswith("-")]
            # a sweep's a,b,c composes as its first value
            commands.append([w.split(",")[0] for w in words if "$" not in w and "=" in w])
    return commands


def test_documented_commands_compose(compose_cfg):
    commands = documented_train_commands()
    assert any("trainer.num_nodes=2" in words for words in commands)
    assert any("hydra/launcher=submitit_slurm" in words for words in commands)
    for words in commands:
        cfg = compose_cfg(*words, tiny=False)
        if "trainer.num_nodes=2" in words:
            assert cfg.trainer.num_nodes * cfg.trainer.devices == 8

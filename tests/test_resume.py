"""A killed run resumes to the same result; SIGTERM/SIGUSR1 leave a loadable last.ckpt."""

from __future__ import annotations

import csv
import json
import math
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TINY, run_env

from seg_f1.runs.resume import stretch_cosine

DETERMINISTIC = [
    *TINY,
    "trainer.deterministic=true",
    "data/augment=light",  # reseeded from torch's RNG per sample, which checkpoints hold
    "data.source.num_train=16",
    "++trainer.limit_train_batches=4",
    "test=false",
]


def command(run_dir: Path, data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "train.py", *DETERMINISTIC, f"paths.data_dir={data_dir}",
            f"hydra.run.dir={run_dir}", *extra]  # fmt: skip


def last_epoch(run_dir: Path) -> int:
    """The epoch of last.ckpt, or -1; the file is renamed into place, so it is never partial."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return -1
    return int(torch.load(last, map_location="cpu", weights_only=True)["epoch"])


def start_and_wait(cmd: list[str], run_dir: Path, epoch: int) -> subprocess.Popen:
    process = subprocess.Popen(cmd, cwd=ROOT, env=run_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 300
    while last_epoch(run_dir) < epoch:
        if process.poll() is not None:
            pytest.fail(f"run ended before epoch {epoch}: {process.stderr.read()[-2000:]}")
        if time.time() > deadline:
            process.kill()
            pytest.fail("no checkpoint within 300 s")
        time.sleep(0.05)
    return process


def val_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("val/f1")]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    path = run_dir / "checkpoints" / "last.ckpt"
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, data_dir):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    epochs = "trainer.max_epochs=4"
    done = subprocess.run(command(straight, data_dir, epochs), cwd=ROOT, env=run_env(),
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]

    process = start_and_wait(command(killed, data_dir, epochs), killed, epoch=1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert last_epoch(killed) < 3, "the run finished before it could be killed"

    resumed = subprocess.run(command(killed, data_dir, epochs, f"resume={killed}"), cwd=ROOT,
                             env=run_env(), capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stderr + resumed.stdout

    expected, got = val_rows(straight), val_rows(killed)
    assert [row["epoch"] for row in got] == ["0", "1", "2", "3"]  # continuous, no duplicates
    for key in [k for k in expected[-1] if k.startswith("val/f1")]:
        assert float(got[-1][key] or "nan") == pytest.approx(
            float(expected[-1][key] or "nan"), abs=1e-6, nan_ok=True
        ), key
    for name, tensor in weights(straight).items():
        assert torch.allclose(weights(killed)[name].float(), tensor.float(), atol=1e-6), name


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_signal_during_training_leaves_a_loadable_last_ckpt(tmp_path, data_dir, signum):
    process = start_and_wait(command(tmp_path, data_dir, "trainer.max_epochs=100"), tmp_path, 0)
    step_before = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    time.sleep(0.5)  # somewhere inside the next epoch
    process.send_signal(signum)
    assert process.wait(timeout=120) == 1
    assert "stopped by a signal" in process.stderr.read()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "interrupted" and "stopped by a signal" in result["error"]
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] > step_before["global_step"]
    assert checkpoint["epoch"] < 99
    assert "state_dict" in checkpoint and "rng_states" in checkpoint


def test_ckpt_path_last_without_checkpoint_starts_fresh(compose_cfg):
    from seg_f1.training import train

    assert 0.0 <= train(compose_cfg("ckpt_path=last", "test=false")) <= 1.0


def test_resume_of_a_missing_directory_is_named(compose_cfg, tmp_path):
    from seg_f1.training import train

    with pytest.raises(FileNotFoundError, match="resume=/no/such/run"):
        train(compose_cfg("resume=/no/such/run"))


def test_atomic_checkpoint_io_keeps_the_old_file_when_a_save_fails(tmp_path, monkeypatch):
    from seg_f1.runs.resume import AtomicCheckpointIO

    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"epoch": 1}, path)

    def interrupted(*args):
        raise KeyboardInterrupt  # a kill between writing and renaming

    monkeypatch.setattr("seg_f1.runs.io.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"epoch": 2}, path)
    assert torch.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_runs_save_checkpoints_through_the_atomic_writer(compose_cfg):
    from seg_f1.runs.resume import AtomicCheckpointIO
    from seg_f1.training import build_trainer

    trainer = build_trainer(compose_cfg())
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def test_a_finished_cosine_schedule_is_stretched_to_the_longer_run():
    """T_max 2 -> 4 after two steps: lr (1 + cos(pi 2/4)) / 2 = 0.5, then (1 + cos(3 pi/4)) / 2."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=2, eta_min=0.0)
    for _ in range(2):
        optimizer.step(), scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    stretch_cosine(scheduler, 4)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5)
    optimizer.step(), scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx((1 + math.cos(3 * math.pi / 4)) / 2)
    optimizer.step(), scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
def test_a_finished_run_continued_to_more_epochs_trains_them_on_the_stretched_cosine(
    tmp_path, data_dir
):
    run = tmp_path / "run"
    first = subprocess.run(command(run, data_dir, "trainer.max_epochs=1", "optimizer.lr=0.01"),
                           cwd=ROOT, env=run_env(), capture_output=True, text=True)  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    more = command(run, data_dir, "trainer.max_epochs=3", "optimizer.lr=0.01", f"resume={run}")
    again = subprocess.run(more, cwd=ROOT, env=run_env(), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "stretched to T_max=3" in again.stdout + again.stderr
    with open(run / "metrics.csv", newline="") as handle:
        lrs = [float(row[key]) for row in csv.DictReader(handle)
               for key in row if key.startswith("lr-") and row[key]]  # fmt: skip
    eta_min = 1e-6  # conf/scheduler/cosine.yaml
    assert len(lrs) == 3 and lrs[0] == pytest.approx(0.01)  # logged as each epoch starts
    for epoch in (1, 2):
        expected = eta_min + (0.01 - eta_min) * (1 + math.cos(math.pi * epoch / 3)) / 2
        assert lrs[epoch] == pytest.approx(expected, rel=1e-6), (epoch, lrs)
    # the curves keep the first run's epoch (its checkpoint was saved before train/f1 was logged)
    rows = [line.split("|")[1:-1] for line in (run / "curves.md").read_text().splitlines()[2:]]
    assert [int(row[0]) for row in rows] == [1, 2, 3]
    assert all(cell.strip() not in ("", "nan") for row in rows for cell in row), rows


@pytest.mark.slow
def test_a_stopped_run_says_what_happened_and_resumes_with_its_own_command(tmp_path, data_dir):
    """SIGTERM: "stopped", not "failed"; the printed command is this run's overrides and runs as
    printed; the resumed epoch's line has its real lr and seconds, and a mid-epoch resume is
    explained in the run's numbers instead of Lightning's "not resumable" warning."""
    overrides = [*DETERMINISTIC, "data.source.num_train=64", "++trainer.limit_train_batches=16",
                 f"paths.data_dir={data_dir}", "trainer.max_epochs=2"]  # fmt: skip
    first = [sys.executable, "train.py", *overrides, f"hydra.run.dir={tmp_path}"]
    process = start_and_wait(first, tmp_path, 0)
    time.sleep(0.5)  # inside the second epoch
    process.send_signal(signal.SIGTERM)
    said = process.communicate(timeout=120)[1]
    assert process.returncode == 1
    stopped_log = (tmp_path / "train.log").read_text()
    assert "train stopped; its log" in stopped_log and "train failed" not in stopped_log
    assert "weights_only" not in said + stopped_log, "nothing is unpickled: no news to tell"
    printed = said.split("continue with: ")[1].splitlines()[0]
    assert shlex.split(printed) == ["python", "train.py", *overrides, f"resume={tmp_path}"]
    step = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]

    resumed = subprocess.run(
        [sys.executable, *shlex.split(printed)[1:], f"hydra.run.dir={tmp_path}"],
        cwd=ROOT, env=run_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    log = (tmp_path / "train.log").read_text()
    assert "not resumable" not in resumed.stdout + resumed.stderr
    epoch = step // 16 + 1
    line = re.search(rf"epoch {epoch}/2: .* \| lr (\S+) \| [\d.]+ s( since resuming)?\n", log)
    assert line and not math.isnan(float(line[1])), log[-2000:]
    done = step % 16
    if done:  # the usual case; a stop on the epoch's boundary resumes a whole epoch
        assert f"epoch {epoch} had done {done} of its 16 steps" in log
        assert f"the other {16 - done} are drawn from a fresh shuffle" in log
        assert line[2] == " since resuming"
    else:
        assert "resumed mid-epoch" not in log and line[2] is None

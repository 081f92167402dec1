"""The checkpoint disk policy: a weights-only best checkpoint beside a complete last.ckpt, and
inside a multirun only what reusing the trial needs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import ROOT, TINY, run_env
from test_resume import last_epoch, start_and_wait

from seg_f1.callbacks.checkpoint import RunCheckpoint
from seg_f1.inference.model import load_model
from seg_f1.runs.checkpoints import load_checkpoint
from seg_f1.runs.io import written_files
from seg_f1.training import train


def checkpoints(run_dir):
    """The finished checkpoints; a killed run may leave a temporary file beside them."""
    paths = written_files(run_dir / "checkpoints", "*.ckpt")
    return {path.name: load_checkpoint(path) for path in paths}


@pytest.mark.slow
def test_best_weights_only_keeps_a_complete_last_ckpt_to_resume(compose_cfg, tmp_path):
    train(compose_cfg("trainer.max_epochs=2", "callbacks.model_checkpoint.best_weights_only=true"))
    saved = checkpoints(tmp_path)
    best = next(name for name in saved if name != "last.ckpt")
    assert "optimizer_states" not in saved[best] and "optimizer_states" in saved["last.ckpt"]
    folder = tmp_path / "checkpoints"
    assert (folder / best).stat().st_size < (folder / "last.ckpt").stat().st_size / 2
    model, recipe = load_model(folder / best)  # reusable as it is
    assert recipe.image_size == 32 and len(model.class_names) == 19


def test_last_ckpt_is_a_hard_link_to_a_best_checkpoint_of_the_same_step(compose_cfg, tmp_path):
    """``monitor=epoch, mode=max``: every epoch's checkpoint is the best, so ``last.ckpt`` is
    the same file on disk, written once, and a complete checkpoint of the last epoch."""
    train(compose_cfg("trainer.max_epochs=2", "callbacks.model_checkpoint.monitor=epoch"))
    folder = tmp_path / "checkpoints"
    (best,) = [path for path in written_files(folder, "*.ckpt") if path.name != "last.ckpt"]
    assert best.name.startswith("epoch001")
    assert os.path.samefile(best, folder / "last.ckpt")
    last = load_checkpoint(folder / "last.ckpt")
    assert last["epoch"] == 1 and "optimizer_states" in last
    assert not list(folder.glob(".*"))  # no temporary link left behind


def test_a_last_ckpt_written_after_a_link_leaves_the_best_checkpoint_as_it_was(
    compose_cfg, tmp_path
):
    """``mode=min`` on the epoch: epoch 0 stays the best; epoch 1's ``last.ckpt`` is written
    anew, which must replace the hard link of epoch 0, not write through it into the best."""
    overrides = ["callbacks.model_checkpoint.monitor=epoch", "callbacks.model_checkpoint.mode=min"]
    train(compose_cfg("trainer.max_epochs=2", *overrides))
    folder = tmp_path / "checkpoints"
    (best,) = [path for path in written_files(folder, "*.ckpt") if path.name != "last.ckpt"]
    assert not os.path.samefile(best, folder / "last.ckpt")
    assert load_checkpoint(best)["epoch"] == 0
    assert load_checkpoint(folder / "last.ckpt")["epoch"] == 1


def test_a_weights_only_best_checkpoint_is_never_linked_as_last(compose_cfg, tmp_path):
    policy = "callbacks.model_checkpoint"
    train(compose_cfg(f"{policy}.monitor=epoch", f"{policy}.best_weights_only=true"))
    folder = tmp_path / "checkpoints"
    (best,) = [path for path in written_files(folder, "*.ckpt") if path.name != "last.ckpt"]
    assert not os.path.samefile(best, folder / "last.ckpt")
    assert "optimizer_states" in load_checkpoint(folder / "last.ckpt")


@pytest.mark.slow
def test_a_finished_sweep_job_keeps_its_best_weights_only(compose_cfg, tmp_path):
    train(compose_cfg("hydra.mode=MULTIRUN"))
    saved = checkpoints(tmp_path)
    assert len(saved) == 1 and "last.ckpt" not in saved
    (best,) = saved.values()
    assert "optimizer_states" not in best and "state_dict" in best


@pytest.mark.slow
def test_a_killed_sweep_job_keeps_a_complete_last_ckpt_and_resumes(tmp_path, data_dir):
    """SIGKILL inside a real ``-m`` job: until a job finishes, last.ckpt holds what resuming
    needs, while the best checkpoint is already weights-only."""
    job = tmp_path / "sweep" / "0"
    overrides = [*TINY, f"paths.data_dir={data_dir}", "test=false"]
    run = [sys.executable, "train.py", *overrides]
    sweep = [sys.executable, "train.py", "-m", *overrides, f"hydra.sweep.dir={tmp_path / 'sweep'}",
             "trainer.max_epochs=100"]  # fmt: skip
    process = start_and_wait(sweep, job, epoch=1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = checkpoints(job)
    assert "optimizer_states" in saved["last.ckpt"]
    best = [checkpoint for name, checkpoint in saved.items() if name != "last.ckpt"]
    assert best and all("optimizer_states" not in checkpoint for checkpoint in best)

    until = last_epoch(job) + 2
    resumed = subprocess.run([*run, f"resume={job}", f"trainer.max_epochs={until}"], cwd=ROOT,
                             env=run_env(), capture_output=True, text=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stderr + resumed.stdout
    assert last_epoch(job) == until - 1


@pytest.mark.slow
def test_a_sweep_can_keep_everything(compose_cfg, tmp_path):
    train(compose_cfg("hydra.mode=MULTIRUN", "callbacks.model_checkpoint.in_multirun=everything"))
    saved = checkpoints(tmp_path)
    assert "optimizer_states" in saved["last.ckpt"]
    assert all("optimizer_states" in checkpoint for checkpoint in saved.values())


def test_an_unknown_policy_is_named():
    with pytest.raises(ValueError, match="in_multirun='some'.*reuse, everything"):
        RunCheckpoint(in_multirun="some")

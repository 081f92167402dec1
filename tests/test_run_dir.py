"""One run per run directory: a used directory is refused unless the run continues it, a second
concurrent run is stopped by the lock, and a continued run may change only its budget."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY, run_env
from omegaconf import OmegaConf

from seg_f1.runs.resume import ContinuingWriter
from seg_f1.runs.resume_config import config_changes
from seg_f1.training import train


def snapshot(run_dir: Path) -> dict[str, bytes]:
    files = [run_dir / "result.json", run_dir / "metrics.csv", *run_dir.glob("checkpoints/*")]
    return {str(path.relative_to(run_dir)): path.read_bytes() for path in files}


def test_a_second_run_into_a_used_directory_is_refused_and_the_first_kept(compose_cfg, tmp_path):
    train(compose_cfg("test=false"))
    before = snapshot(tmp_path)
    with pytest.raises(FileExistsError, match=r"already holds a run.*resume=.*hydra\.run\.dir"):
        train(compose_cfg("test=false"))
    assert snapshot(tmp_path) == before  # no last-v1.ckpt, metrics and result untouched


def test_what_hydra_writes_before_the_job_is_not_a_run(compose_cfg, tmp_path):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (tmp_path / "train.log").write_text("")
    assert 0.0 <= train(compose_cfg("test=false")) <= 1.0


def test_resume_refuses_changed_model_loss_or_data_unless_forced(compose_cfg, tmp_path):
    train(compose_cfg("test=false"))
    changed = ("loss.dice_weight=0.9", "data.augment=null", "trainer.max_epochs=2", "test=false")
    with pytest.raises(ValueError, match=r"resume_force=true") as refused:
        train(compose_cfg(f"resume={tmp_path}", *changed))
    differing = str(refused.value).split("these keys differ:")[1]
    assert "loss.dice_weight: 0.5 -> 0.9" in differing and "data.augment" in differing
    assert "max_epochs" not in differing and "T_max" not in differing  # the budget may change
    train(compose_cfg(f"resume={tmp_path}", *changed, "resume_force=true"))
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "ok" and result["epochs"] == 2
    assert result["resume_changes"]["loss.dice_weight"] == {"was": 0.5, "now": 0.9}


def test_a_continued_run_may_move_its_data_and_go_to_the_gpu_preset(compose_cfg):
    """A CPU run continued with trainer=gpu (its loader keys) from data staged elsewhere."""
    celeb = ("data=celebamask_hq", "data.root=/data/celeb")
    stored = OmegaConf.to_container(compose_cfg(*celeb, tiny=False), resolve=True)
    staged = ("data.root=/tmp/job7/celeb", "paths.data_dir=/tmp/job7")
    # both presets say precision auto: each machine computes in what it does best
    moved = compose_cfg("data=celebamask_hq", *staged, "trainer=gpu", tiny=False)
    assert moved.data.prefetch_factor == 4 and moved.data.source.cache_dir == "/tmp/job7"
    assert config_changes(stored, moved) == {}
    # what the data is still counts, named by key
    skipping = compose_cfg(*celeb, "data.on_bad_sample=skip", tiny=False)
    assert config_changes(stored, skipping) == {
        "data.on_bad_sample": {"was": "raise", "now": "skip"}
    }


def test_a_key_an_older_checkpoint_lacks_is_unchanged_at_its_default(compose_cfg):
    stored = OmegaConf.to_container(compose_cfg(), resolve=True)
    for key in ("mask_size", "prefetch_factor"):  # written before these keys existed
        del stored["data"][key]
    assert config_changes(stored, compose_cfg()) == {}
    changed = config_changes(stored, compose_cfg("data.mask_size=any"))
    assert changed == {"data.mask_size": {"was": None, "now": "any"}}


def test_a_fresh_run_never_overwrites_an_earlier_runs_metrics(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,step\n0,1\n")
    (tmp_path / "metrics.previous.csv").write_text("epoch,step\n0,7\n")
    ContinuingWriter(str(tmp_path), keep_before_step=None)
    kept = sorted(p.read_text() for p in tmp_path.glob("metrics.previous*.csv"))
    assert kept == ["epoch,step\n0,1\n", "epoch,step\n0,7\n"]


@pytest.mark.slow
def test_a_concurrent_run_is_stopped_and_a_killed_ones_directory_is_taken_over(
    compose_cfg, tmp_path, data_dir
):
    command = [sys.executable, "train.py", *TINY, f"paths.data_dir={data_dir}",
               f"hydra.run.dir={tmp_path}", "trainer.max_epochs=100", "test=false"]  # fmt: skip
    first = subprocess.Popen(command, cwd=ROOT, env=run_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.time() + 120
        while not (tmp_path / "checkpoints" / "last.ckpt").is_file():
            assert first.poll() is None and time.time() < deadline, "the first run never saved"
            time.sleep(0.1)
        alive = rf"in use by another run that is still alive \(pid {first.pid} on host "
        with pytest.raises(RuntimeError, match=alive):
            train(compose_cfg("ckpt_path=last", "test=false"))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the SLURM requeue path: same fixed directory, ckpt_path=last, the dead run's lock taken over
    assert 0.0 <= train(compose_cfg("ckpt_path=last", "test=false")) <= 1.0
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "ok"


def test_keys_a_new_dataset_sets_otherwise_are_still_defaults_for_an_older_run(compose_cfg):
    """``lfw_parts`` sets label_colors and mask_size=same; a synthetic run written before those
    keys existed still continues at the synthetic defaults."""
    stored = OmegaConf.to_container(compose_cfg(), resolve=True)
    for key in ("mask_size", "label_colors"):
        del stored["data"][key]
    assert config_changes(stored, compose_cfg()) == {}
    changed = config_changes(stored, compose_cfg("data.mask_size=same"))
    assert changed == {"data.mask_size": {"was": None, "now": "same"}}


HOLD_RUN = """
import sys, time
from seg_f1.runs.directory import LOCK_FILE, held
with held(sys.argv[1], LOCK_FILE, "run", "wait"):
    print("holding", flush=True)
    time.sleep(60)
"""


@pytest.mark.slow
def test_resume_of_a_run_that_is_still_alive_is_refused_from_another_folder(compose_cfg, tmp_path):
    from omegaconf import open_dict

    train(compose_cfg("test=false"))  # a finished run in tmp_path
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    elsewhere = tmp_path / "continued"
    try:
        assert holder.stdout.readline().strip() == "holding"  # as if it were still training
        cfg = compose_cfg(f"resume={tmp_path}", "trainer.max_epochs=2", "test=false")
        with open_dict(cfg):
            cfg.paths.output_dir = str(elsewhere)
        alive = rf"{tmp_path} is in use by a run that is still alive \(pid {holder.pid} on host "
        with pytest.raises(RuntimeError, match=alive):
            train(cfg)
        assert not (elsewhere / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    assert 0.0 <= train(cfg) <= 1.0  # stopped, it is a run to start from
    assert (elsewhere / "checkpoints" / "last.ckpt").is_file()

"""result.json tells the truth however a run ends: ok, failed with the reason (also when the run
folder became unwritable: the record is rewritten in place, or goes to the temp dir and stderr),
interrupted by Ctrl-C, SIGTERM or SIGHUP. The folder is made unwritable for real: `chattr +i`
(root ignores chmod) and a read-only bind mount."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import lightning as L
import pytest
from faults import fill, immutable, read_only, tmpfs
from omegaconf import OmegaConf

from seg_f1.runs.io import WriteFailed
from seg_f1.runs.record_files import fallback_record, read_result
from seg_f1.runs.results import run_objective
from seg_f1.training import train

CFG = OmegaConf.create({"optimized_metric": "val/f1", "seed": 1})


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FreezeAfterFirstEpoch(L.Callback):
    """``chattr +i`` on the run folder and its checkpoints folder once epoch 0 is saved: the
    next checkpoint cannot be written, nor a new result.json renamed into place."""

    frozen: list = []
    last_digest: str | None = None

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == 1:
            folders = [os.path.join(self.run_dir, "checkpoints"), self.run_dir]
            FreezeAfterFirstEpoch.last_digest = digest(Path(folders[0]) / "last.ckpt")
            for folder in folders:
                if os.system(f"chattr +i {folder}") == 0:
                    FreezeAfterFirstEpoch.frozen.append(folder)


@pytest.fixture
def unfreeze():
    yield
    for folder in FreezeAfterFirstEpoch.frozen:
        os.system(f"chattr -i {folder}")
    FreezeAfterFirstEpoch.frozen.clear()


def test_a_run_folder_made_unwritable_mid_run_records_the_failure(
    compose_cfg, tmp_path, capfd, unfreeze
):
    with immutable(tmp_path):  # chattr works on this filesystem, or the test is skipped
        pass
    cfg = compose_cfg("trainer.max_epochs=3", "test=false", "~callbacks.run_reports",
                      "~callbacks.curve_diagnosis",
                      f"+callbacks.freeze._target_={__name__}.FreezeAfterFirstEpoch",
                      f"+callbacks.freeze.run_dir={tmp_path}")  # fmt: skip
    with pytest.raises(WriteFailed, match=r"cannot write .*checkpoints/.*\.ckpt: ") as failed:
        train(cfg)
    assert "Operation not permitted [EPERM]" in str(failed.value)
    assert FreezeAfterFirstEpoch.frozen, "chattr +i was refused"
    result = read_result(
        tmp_path / "result.json"
    )  # rewritten in place: the folder refused a new file
    assert result["status"] == "failed" and "Operation not permitted" in result["error"]
    assert digest(tmp_path / "checkpoints" / "last.ckpt") == FreezeAfterFirstEpoch.last_digest
    # what the run did before it failed stays in its record: epoch 0 ran and was saved
    (best,) = (tmp_path / "checkpoints").glob("epoch000-*.ckpt")
    assert result["epochs"] == 1 and result["best_checkpoint"] == str(best)
    assert result["best"] == pytest.approx(float(best.stem.split("f1")[-1].lstrip("=_-")), abs=1e-4)
    err = capfd.readouterr().err
    assert f"it was written to {tmp_path / 'result.json'} instead" in err
    assert err.count(str(tmp_path / "result.json")) == 2  # the failure once, where it went once


def test_a_record_its_folder_refuses_entirely_goes_to_the_temp_dir_and_stderr(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    run_dir = tmp_path / "run"
    mounts = ExitStack()

    def body(record):  # the record is written on the way out, while the mount still holds
        mounts.enter_context(read_only(run_dir))
        raise RuntimeError("boom")

    with mounts, pytest.raises(RuntimeError, match="boom"):
        run_objective(CFG, body, str(run_dir))
    assert read_result(run_dir / "result.json")["status"] == "running"  # nothing could change it
    fallback = fallback_record(run_dir / "result.json")
    assert fallback.is_relative_to(tmp_path / "tmp" / "seg_f1-records")
    record = json.loads(fallback.read_text())
    assert record["status"] == "failed" and record["error"].startswith("RuntimeError: boom")
    assert record["run_dir"] == str(run_dir)
    err = capsys.readouterr().err
    assert f"cannot write {run_dir / 'result.json'}" in err and str(fallback) in err


def test_a_record_on_a_full_disk_is_rewritten_in_the_blocks_it_holds(tmp_path):
    with tmpfs(tmp_path / "disk", "1m") as disk:

        def body(record):
            fill(disk)
            raise RuntimeError("boom: " + "x" * 500)

        with pytest.raises(RuntimeError):
            run_objective(CFG, body, str(disk / "run"))
        result = read_result(disk / "run" / "result.json")
    assert result["status"] == "failed" and "boom" in result["error"]


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stop_signal_outside_lightnings_loops_records_interrupted(tmp_path, name):
    """As while data is generated or class weights counted: the default action would kill the
    process where it stands and leave result.json saying running."""
    signum = getattr(signal, name)
    default = signal.default_int_handler if name == "SIGINT" else signal.SIG_DFL
    # the default disposition, whatever pytest inherited: nohup and `cmd &` without job
    # control start it with SIGHUP and SIGINT ignored
    inherited = signal.signal(signum, default)

    def body(record):
        os.kill(os.getpid(), signum)
        time.sleep(5)
        pytest.fail("the signal did not stop the run")

    try:
        with pytest.raises((SystemExit, KeyboardInterrupt)):
            run_objective(CFG, body, str(tmp_path))
        assert signal.getsignal(signum) is default
    finally:
        signal.signal(signum, inherited)
    result = read_result(tmp_path / "result.json")
    assert result["status"] == "interrupted"
    assert name in result["error"] or result["error"] == "KeyboardInterrupt"


def test_a_hangup_the_process_was_told_to_ignore_stays_ignored(tmp_path):
    """nohup's SIG_IGN is the user's choice: the run goes on and ends ok."""
    inherited = signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def body(record):
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(0.2)
        record.data["best"] = 0.5

    try:
        run_objective(CFG, body, str(tmp_path))
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, inherited)
    assert read_result(tmp_path / "result.json")["status"] == "ok"

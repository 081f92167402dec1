"""A full disk or an unwritable folder while a checkpoint, a mask, a figure, metrics.csv or a
cache is written: one line naming the file, the bytes it needed and the system's reason, and
the file already there left as it was. The disk is a real tmpfs filled to the brim; the folder
is made immutable with `chattr +i` (root ignores chmod)."""

from __future__ import annotations

import hashlib
import logging

import lightning as L
import numpy as np
import pytest
import torch
from faults import fill, immutable, tmpfs
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf
from PIL import Image

from seg_f1 import predict
from seg_f1.losses.class_weights import resolve_class_weights
from seg_f1.report.files import save_text
from seg_f1.runs.io import WriteFailed, link_atomically, written_files
from seg_f1.runs.results import read_result
from seg_f1.runs.resume import AtomicCheckpointIO, ContinuingWriter
from seg_f1.training import train

# a U-Net small enough that a few checkpoints fit a tmpfs of some MiB
SMALL_MODEL = [
    "+model.model_kwargs.encoder_depth=3",
    "+model.model_kwargs.decoder_channels=[32,16,8]",
]


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_temporary_files(folder) -> bool:
    return not [p for p in folder.rglob(".*.tmp*")]


def test_a_checkpoint_on_a_full_disk_names_the_file_and_keeps_the_previous(tmp_path):
    io = AtomicCheckpointIO()
    weights = {"state_dict": {"w": torch.arange(256 * 1024, dtype=torch.float32)}}  # 1 MiB
    with tmpfs(tmp_path / "disk", "1600k") as disk:
        io.save_checkpoint({**weights, "epoch": 1}, disk / "last.ckpt")
        before = digest(disk / "last.ckpt")
        with pytest.raises(WriteFailed) as full:
            io.save_checkpoint({**weights, "epoch": 2}, disk / "last.ckpt")
        message = str(full.value)
        assert message.startswith(f"cannot write {disk / 'last.ckpt'}: No space left on device")
        assert "it needs 1.0 MiB" in message and "free there" in message and "\n" not in message
        assert "the previous last.ckpt is unchanged" in message
        assert digest(disk / "last.ckpt") == before and no_temporary_files(disk)
        assert torch.load(disk / "last.ckpt", weights_only=True)["epoch"] == 1


def test_a_hard_link_across_filesystems_is_refused_and_changes_nothing(tmp_path):
    """``last.ckpt`` is a hard link to the best checkpoint only where the folder allows one;
    elsewhere ``link_atomically`` says so and the caller writes the file."""
    (tmp_path / "last.ckpt").write_bytes(b"previous")
    with tmpfs(tmp_path / "other", "64k") as other:
        (other / "best.ckpt").write_bytes(b"best")
        assert link_atomically(other / "best.ckpt", tmp_path / "last.ckpt") is False
    assert (tmp_path / "last.ckpt").read_bytes() == b"previous" and no_temporary_files(tmp_path)
    (tmp_path / "best.ckpt").write_bytes(b"best")
    assert link_atomically(tmp_path / "best.ckpt", tmp_path / "last.ckpt") is True
    assert (tmp_path / "last.ckpt").read_bytes() == b"best" and no_temporary_files(tmp_path)


class FillDisk(L.Callback):
    """Leaves ``leave`` bytes free on the run's disk once epoch 0's checkpoints are written."""

    last_digest: str | None = None

    def __init__(self, run_dir: str, leave: int) -> None:
        self.run_dir, self.leave = run_dir, leave

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == 1:
            from pathlib import Path

            FillDisk.last_digest = digest(Path(self.run_dir) / "checkpoints" / "last.ckpt")
            fill(Path(self.run_dir), self.leave)


@pytest.mark.slow
def test_a_run_whose_disk_fills_up_ends_in_one_line_and_keeps_last_ckpt(compose_cfg, tmp_path):
    with tmpfs(tmp_path / "disk", "128m") as disk:
        cfg = compose_cfg(*SMALL_MODEL, "trainer.max_epochs=3", "test=false",
                          "callbacks.model_checkpoint.monitor=null",  # a save every epoch
                          "~callbacks.run_reports", "~callbacks.curve_diagnosis",
                          f"+callbacks.fill._target_={__name__}.FillDisk",
                          f"+callbacks.fill.run_dir={disk}",
                          "+callbacks.fill.leave=200000")  # fmt: skip
        cfg.paths.output_dir = str(disk)
        with pytest.raises(WriteFailed, match=r"^cannot write .*/checkpoints/.*ckpt: No space"):
            train(cfg)
        assert digest(disk / "checkpoints" / "last.ckpt") == FillDisk.last_digest
        assert no_temporary_files(disk / "checkpoints")
        result = read_result(disk / "result.json")
        assert result["status"] == "failed" and "No space left on device" in result["error"]


def test_predict_on_a_full_disk_names_the_mask_and_keeps_the_masks_there(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(3):
        Image.fromarray(np.full((32, 32, 3), 60 * index, np.uint8)).save(photos / f"p{index}.png")
    keys = {"backend": "torch", "ckpt_path": str(ckpt), "onnx_model": None, "input": str(photos),
            "overlay": False, "batch_size": 2, "progress": False}  # fmt: skip
    with tmpfs(tmp_path / "disk", "256k") as disk:
        out = disk / "masks"
        predict.run(OmegaConf.create({**keys, "output": str(out), "overwrite": False}))
        before = {p.name: digest(p) for p in out.iterdir()}
        fill(disk)
        rerun = OmegaConf.create({**keys, "output": str(out), "overwrite": True})
        with pytest.raises(WriteFailed, match=r"cannot write .*/masks/p0_mask.png: No space") as e:
            predict.run(rerun)
        assert "it needs " in str(e.value) and "the previous p0_mask.png is unchanged" in str(
            e.value
        )
        assert {p.name: digest(p) for p in out.iterdir()} == before and no_temporary_files(out)


def test_a_figure_or_report_in_an_immutable_folder_is_named(tmp_path):
    save_text("first\n", tmp_path / "diagnosis.md")
    with immutable(tmp_path), pytest.raises(WriteFailed) as refused:
        save_text("second\n", tmp_path / "diagnosis.md")
    assert str(refused.value).startswith(
        f"cannot write {tmp_path / 'diagnosis.md'}: Operation not permitted [EPERM]; the folder "
        f"refuses writing. Make {tmp_path} writable"
    )
    assert (tmp_path / "diagnosis.md").read_text() == "first\n"


def test_metrics_csv_on_a_full_disk_is_named_and_keeps_its_rows(tmp_path):
    with tmpfs(tmp_path / "disk", "256k") as disk:
        writer = ContinuingWriter(str(disk), keep_before_step=None)
        writer.log_metrics({"val/f1": 0.5}, step=0)
        writer.save()
        before = (disk / "metrics.csv").read_text()
        fill(disk)
        writer.log_metrics({"val/f1": 0.6, "test/f1": 0.7}, step=1)  # a new column: a rewrite
        with pytest.raises(WriteFailed, match=r"cannot write .*metrics.csv: No space left"):
            writer.save()
        assert (disk / "metrics.csv").read_text() == before


def test_a_class_weight_cache_whose_disk_is_full_goes_to_the_next_folder(tmp_path, caplog):
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.array([[0, 1], [2, 2]], np.uint8)).save(masks / "a.png")
    with tmpfs(tmp_path / "disk", "64k") as disk:
        fill(disk)
        with caplog.at_level(logging.WARNING):
            resolve_class_weights(
                "inverse", class_names=["bg", "skin", "hair"], ignore_index=255,
                mask_paths=lambda: [masks / "a.png"], cache_dirs=[disk, tmp_path / "cache"],
            )  # fmt: skip
        assert not written_files(disk, "class_weights_*")
    assert written_files(tmp_path / "cache", "class_weights_inverse*.pt")
    assert f"cannot write {disk}/class_weights_inverse" in caplog.text
    assert "No space left on device [ENOSPC]" in caplog.text

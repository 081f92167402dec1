"""Predict's output folder has one writer at a time, and a predict stopped by a full disk says
how many photos were written, failed and never processed. Real processes, a real tmpfs."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import numpy as np
import pytest
from faults import fill, tmpfs
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf
from PIL import Image

from seg_f1 import predict
from seg_f1.inference.photos import OUTPUT_LOCK
from seg_f1.runs.directory import RunDirInUse
from seg_f1.runs.io import WriteFailed

HOLD = """
import sys, time
from seg_f1.runs.directory import held
with held(sys.argv[1], sys.argv[2], "predict", "wait"):
    print("holding", flush=True)
    time.sleep(60)
"""


def photos(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        image = np.full((32, 32, 3), 40 * index, np.uint8)
        Image.fromarray(image).save(folder / f"p{index}.png")
    return folder


def keys(tmp_path, out, **extra):
    ckpt = tmp_path / "model.ckpt"
    if not ckpt.exists():
        write_checkpoint(ckpt)
    return OmegaConf.create(
        {"backend": "torch", "ckpt_path": str(ckpt), "onnx_model": None,
         "input": str(tmp_path / "photos"), "output": str(out), "overwrite": False,
         "overlay": False, "batch_size": 1, "progress": False, **extra}
    )  # fmt: skip


def test_a_second_predict_into_a_folder_a_live_one_holds_is_refused_naming_it(tmp_path):
    photos(tmp_path / "photos", 2)
    out = tmp_path / "masks"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), OUTPUT_LOCK], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(RunDirInUse) as refused:
            predict.run(keys(tmp_path, out, overwrite=True))
        message = str(refused.value)
        assert (
            f"{out} is in use by another predict that is still alive (pid {holder.pid}" in message
        )
        assert "started 20" in message and "its own output=" in message
        assert [p.name for p in out.iterdir()] == [OUTPUT_LOCK]  # nothing written beside it
    finally:
        holder.kill()
        holder.wait()
    written = predict.run(keys(tmp_path, out))  # the holder gone, the folder is free at once
    assert sorted(p.name for p in written) == ["p0_mask.png", "p1_mask.png"]
    assert sorted(p.name for p in out.iterdir()) == ["p0_mask.png", "p1_mask.png"]  # no lock left


@pytest.mark.slow
def test_two_predicts_started_together_never_share_a_folder(tmp_path):
    """Both started at once: one writes every mask, the other is refused or finds the folder
    taken; never two exits 0 with one run's masks."""
    photos(tmp_path / "photos", 6)
    write_checkpoint(tmp_path / "model.ckpt")
    out = tmp_path / "masks"
    command = [sys.executable, "-m", "seg_f1.predict", f"ckpt_path={tmp_path / 'model.ckpt'}",
               f"input={tmp_path / 'photos'}", f"output={out}", "overlay=false",
               "progress=false"]  # fmt: skip
    runs = [
        subprocess.Popen([*command, f"hydra.run.dir={tmp_path / f'run{i}'}"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]  # fmt: skip
    results = [(run.wait(timeout=300), run.stdout.read()) for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] != 0, results
    said = next(text for code, text in results if code != 0)
    assert "still alive" in said or "is not empty" in said
    assert len(list(out.glob("*_mask.png"))) == 6


def test_a_full_disk_mid_predict_counts_written_failed_and_never_processed(tmp_path, caplog):
    photos(tmp_path / "photos", 4)
    with tmpfs(tmp_path / "disk", "256k") as disk:
        out = disk / "masks"
        out.mkdir()
        (out / OUTPUT_LOCK).write_text("x" * 100)  # its page is taken before the disk fills
        fill(disk, leave=4096)  # one page: one tiny mask
        time.sleep(0.1)
        with caplog.at_level(logging.ERROR), pytest.raises(WriteFailed, match="p1_mask.png"):
            predict.run(keys(tmp_path, out, overwrite=True))
    assert (
        "predict stopped: wrote 1 mask for 1 of 4 image files; 1 failed (cannot write "
        in caplog.text
    )
    assert "; 2 never processed" in caplog.text


def test_predict_says_the_classes_the_framing_and_the_decision_rule_before_the_first_photo(
    tmp_path, caplog
):
    photos(tmp_path / "photos", 1)
    with caplog.at_level(logging.INFO):
        predict.run(keys(tmp_path, tmp_path / "argmax"))
    assert (
        "parsing 19 classes at 32 px; each photo parsed whole (align=none); decision rule: argmax"
        in caplog.text
    )
    import torch

    checkpoint = torch.load(tmp_path / "model.ckpt", weights_only=True)
    offsets = [0.0] * 19
    offsets[13] = 0.5
    checkpoint["decision_offsets"] = {"classes": checkpoint["class_names"], "offsets": offsets}
    torch.save(checkpoint, tmp_path / "model.ckpt")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        predict.run(keys(tmp_path, tmp_path / "f1", decode="f1"))
    assert "decision rule: decode=f1 offsets (background +0.00, skin +0.00," in caplog.text
    assert "hair +0.50" in caplog.text

"""``python -m seg_f1.class_weights``: counts the training masks and writes .pt and .json."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, run_env
from PIL import Image

from seg_f1.data.pixel_counts import count_pixels
from seg_f1.losses.class_weights import compute_class_weights


@pytest.mark.slow
def test_cli_writes_median_freq_weights_of_the_training_split(tmp_path):
    root = tmp_path / "faces"
    for split, value in (("train", 1), ("val", 2), ("test", 2)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for index in range(2):
            mask = np.zeros((4, 4), np.uint8)
            mask[: index + 1] = value  # train: class 1 in 4 then 8 pixels
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(
                root / split / "images" / f"{index}.png"
            )
            Image.fromarray(mask).save(root / split / "masks" / f"{index}.png")
    command = [
        sys.executable, "-m", "seg_f1.class_weights", "data=folder",
        f"data.source.root={root}", "data.classes=[background,skin,hair]", "data.flip_pairs=[]",
        "method=median_freq", f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=run_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    masks = sorted((root / "train" / "masks").glob("*.png"))
    counts = count_pixels(masks, 3, 255, progress=False)
    expected = compute_class_weights(
        counts, "median_freq", class_names=["background", "skin", "hair"]
    )
    written = torch.load(root / "class_weights.pt")
    assert written.tolist() == pytest.approx(expected.tolist())
    report = json.loads((root / "class_weights.json").read_text())
    assert "skin" in json.dumps(report) and "hair" in json.dumps(report)
    assert "median_freq class weights over 2 training masks" in result.stdout

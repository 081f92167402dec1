"""Paper-style evaluation: hand-computed F1, 255 ignored, original size, flip TTA, class checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONF, ROOT, run_env
from hydra import compose, initialize_config_dir
from inference_fixtures import write_checkpoint
from PIL import Image
from torch import nn

from seg_f1.data.folder import Sample
from seg_f1.evaluate import run
from seg_f1.inference.recipe import InputRecipe
from seg_f1.inference.scoring import check_classes, evaluate_samples, probabilities
from seg_f1.metrics import summary_rows

CLASSES = ["background", "a", "b"]
RECIPE = InputRecipe(8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), ())


class Constant(nn.Module):
    """Predicts one class everywhere."""

    def __init__(self, index: int, num_classes: int) -> None:
        super().__init__()
        self.index, self.num_classes = index, num_classes

    def forward(self, image):
        logits = torch.zeros(image.shape[0], self.num_classes, *image.shape[-2:])
        logits[:, self.index] = 5.0
        return logits


def write_pair(folder: Path, name: str, mask: np.ndarray) -> Sample:
    folder.mkdir(parents=True, exist_ok=True)
    image = np.full((*mask.shape, 3), 128, np.uint8)
    Image.fromarray(image).save(folder / f"{name}.png")
    Image.fromarray(mask.astype(np.uint8), mode="L").save(folder / f"{name}_mask.png")
    return Sample(folder / f"{name}.png", folder / f"{name}_mask.png")


@pytest.fixture
def two_masks():
    first = np.zeros((8, 8), np.uint8)
    first[:4], first[4:6], first[6:] = 1, 2, 255  # 32 a, 16 b, 16 ignored
    second = np.zeros((8, 8), np.uint8)
    second[0] = 1  # 8 a, 56 background
    return first, second


def test_f1_by_hand_with_255_ignored(tmp_path, two_masks):
    samples = [write_pair(tmp_path, f"s{i}", m) for i, m in enumerate(two_masks)]
    confmat = evaluate_samples(Constant(1, 3), RECIPE, samples, CLASSES)
    assert confmat.sum() == 112  # 16 ignored pixels never counted
    rows = summary_rows(confmat, CLASSES)
    # class a: TP 40, FP 16 (b) + 56 (background), FN 0
    assert rows[1]["f1"] == pytest.approx(80 / 152)
    assert rows[1]["precision"] == pytest.approx(40 / 112) and rows[1]["recall"] == 1.0
    assert rows[2]["f1"] == 0.0 and rows[2]["iou"] == 0.0
    assert rows[-1]["f1"] == pytest.approx((80 / 152 + 0.0) / 2)  # background left out


def test_original_size_counts_the_masks_own_pixels(tmp_path, two_masks):
    big = [m.repeat(2, 0).repeat(2, 1) for m in two_masks]  # 16 x 16, model size stays 8
    samples = [write_pair(tmp_path, f"s{i}", m) for i, m in enumerate(big)]
    at_model = evaluate_samples(Constant(1, 3), RECIPE, samples, CLASSES)
    at_original = evaluate_samples(Constant(1, 3), RECIPE, samples, CLASSES, at_original_size=True)
    assert at_model.sum() == 112 and at_original.sum() == 4 * 112
    assert torch.equal(at_original, 4 * at_model)


def write_photo_and_mask(folder: Path, image_hw: tuple, mask_hw: tuple) -> Sample:
    """A grey photo of one size and an all-background mask of another."""
    for kind, shape in (("images", (*image_hw, 3)), ("masks", mask_hw)):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full(shape, 128 if kind == "images" else 0, np.uint8)).save(
            folder / kind / "face.png"
        )
    return Sample(folder / "images" / "face.png", folder / "masks" / "face.png")


def test_a_mask_that_does_not_fit_its_photo_is_refused_as_in_training(tmp_path):
    sample = write_photo_and_mask(tmp_path, (16, 16), (12, 12))
    with pytest.raises(ValueError, match=r"face.png: mask is 12x12 but its image .* is 16x16"):
        evaluate_samples(Constant(1, 3), RECIPE, [sample], CLASSES)
    resized = evaluate_samples(Constant(1, 3), RECIPE, [sample], CLASSES, mask_size="any")
    assert resized.sum() == 64  # the model's 8 x 8
    half = write_photo_and_mask(tmp_path / "half", (16, 16), (8, 8))  # integer factor: allowed
    assert evaluate_samples(Constant(1, 3), RECIPE, [half], CLASSES).sum() == 64


def test_evaluate_applies_the_data_configs_mask_size(tmp_path):
    write_photo_and_mask(tmp_path / "faces" / "test", (32, 32), (24, 24))
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    overrides = [f"ckpt_path={ckpt}", "data=folder", f"data.root={tmp_path / 'faces'}",
                 "data.image_size=32", "data.validate=off",  # the datamodule checks nothing
                 f"output_dir={tmp_path / 'out'}"]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        scaled = compose("evaluate", overrides=overrides)
        anything = compose("evaluate", overrides=[*overrides, "data.mask_size=any"])
    with pytest.raises(ValueError, match=r"mask is 24x24 but its image .* is 32x32"):
        run(scaled)
    assert run(anything)["confusion"].sum() == 32 * 32


class SideAware(nn.Module):
    """A bright pixel in the image's left half is l_eye (index 1), in the right half r_eye (2)."""

    def forward(self, image):
        bright = (image[:, :1] > 0).float()
        left = torch.zeros_like(bright)
        left[..., : image.shape[-1] // 2] = 1
        logits = torch.cat([1 - bright, bright * left, bright * (1 - left)], 1)
        return 10 * logits


def test_flip_tta_swaps_left_and_right_channels():
    image = -torch.ones(1, 3, 4, 4)
    image[..., 1, 0] = 1.0  # one bright pixel on the left
    swap = torch.tensor([0, 2, 1])
    probs = probabilities(SideAware(), image, swap)
    assert probs[0, :, 1, 0].argmax() == 1  # still l_eye
    assert probs[0, 2, 1, 0] < 0.01  # the mirror's r_eye went back to l_eye
    unswapped = probabilities(SideAware(), image, torch.arange(3))
    assert unswapped[0, 2, 1, 0] > 0.4  # without the swap the mirror votes r_eye


def test_classes_differing_from_the_data_config_fail_with_both_lists():
    with pytest.raises(
        ValueError, match=r"model.ckpt.*\['background', 'a'\].*\['background', 'b'\]"
    ):
        check_classes(["background", "a"], ["background", "b"], "model.ckpt")


@pytest.mark.slow
def test_evaluate_cli_writes_markdown_and_csv(tmp_path, data_dir):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    out = tmp_path / "eval"
    tiny = ["data.image_size=32", "data.source.num_train=8", "data.source.num_val=4",
            "data.source.num_test=4"]  # fmt: skip
    command = [sys.executable, "-m", "seg_f1.evaluate", f"ckpt_path={ckpt}", "tta=flip",
               f"paths.data_dir={data_dir}", f"hydra.run.dir={out}", *tiny]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=run_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = (out / "evaluation.csv").read_text().splitlines()
    assert lines[0] == "index,class,pixel_share,precision,recall,f1,iou" and len(lines) == 21
    assert "tta=flip" in (out / "evaluation.md").read_text()
    said = result.stdout + result.stderr
    assert f"evaluate: run directory {out}" in said and f"wrote {out / 'evaluation.md'}" in said
    assert f"evaluate done; its log and results are in {out}" in said
    wrong = subprocess.run([*command, "data.classes=[background,skin]", "data.flip_pairs=[]"],
                           cwd=ROOT, env=run_env(), capture_output=True, text=True)  # fmt: skip
    assert wrong.returncode != 0 and "differ from data.classes" in wrong.stderr

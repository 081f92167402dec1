"""Every step that can take more than a few seconds shows a progress bar in a terminal."""

from __future__ import annotations

import io

import numpy as np
import pytest
import rich
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf
from PIL import Image
from rich.console import Console

from seg_f1 import export, predict
from seg_f1.data.folder import Sample
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.data.pixel_counts import count_pixels
from seg_f1.data.synthetic import SyntheticFaces
from seg_f1.inference.model import load_model
from seg_f1.inference.scoring import evaluate_samples


@pytest.fixture
def terminal(monkeypatch) -> io.StringIO:
    """Rich's global console as an 80-column terminal whose output is kept: transient bars
    are drawn, then erased with cursor codes, so their text stays in the stream."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80, color_system=None)
    monkeypatch.setattr(rich, "_console", console)
    return screen


@pytest.fixture
def faces(tmp_path) -> list[Sample]:
    folder = tmp_path / "faces"
    folder.mkdir()
    samples = []
    for index in range(3):
        mask = np.full((32, 32), index, np.uint8)
        Image.fromarray(np.full((32, 32, 3), 100, np.uint8)).save(folder / f"{index}.png")
        Image.fromarray(mask, mode="L").save(folder / f"{index}_mask.png")
        samples.append(Sample(folder / f"{index}.png", folder / f"{index}_mask.png"))
    return samples


def test_synthetic_generation_shows_a_bar(terminal, tmp_path):
    SyntheticFaces(str(tmp_path), image_size=32, num_train=2, num_val=1, num_test=1).prepare()
    assert "generating synthetic faces (32px, once)" in terminal.getvalue()


def test_pixel_counting_shows_a_bar(terminal, faces):
    count_pixels([s.mask for s in faces], num_classes=19, progress=True)
    assert "Counting pixels" in terminal.getvalue()


def test_evaluate_shows_a_bar(terminal, faces, tmp_path):
    model, recipe = load_model(write_checkpoint(tmp_path / "model.ckpt"))
    evaluate_samples(model, recipe, faces, list(CLASSES), batch_size=2, progress=True)
    assert "evaluating 3 images" in terminal.getvalue()


def test_predict_shows_a_bar(terminal, faces, tmp_path):
    cfg = {"backend": "torch", "ckpt_path": str(write_checkpoint(tmp_path / "model.ckpt")),
           "onnx_model": None, "input": str(faces[0].image), "output": str(tmp_path / "out"),
           "overlay": False, "batch_size": 1, "progress": True, "overwrite": False}  # fmt: skip
    predict.run(OmegaConf.create(cfg))
    assert "predicting" in terminal.getvalue()


def test_export_shows_each_step(terminal, tmp_path):
    cfg = {"ckpt_path": str(write_checkpoint(tmp_path / "model.ckpt")),
           "output": str(tmp_path / "m.onnx"), "opset": 17, "parity_batch": 1,
           "tolerance": 1e-4, "progress": True}  # fmt: skip
    export.run(OmegaConf.create(cfg))
    shown = terminal.getvalue()
    for step in ("exporting to ONNX", "onnxruntime vs torch at 32x32", "3/3"):
        assert step in shown, step


def test_no_bar_when_progress_is_off(terminal, tmp_path):
    cfg = {"ckpt_path": str(write_checkpoint(tmp_path / "model.ckpt")),
           "output": str(tmp_path / "m.onnx"), "opset": 17, "parity_batch": 1,
           "tolerance": 1e-4, "progress": False}  # fmt: skip
    export.run(OmegaConf.create(cfg))
    assert "exporting to ONNX" not in terminal.getvalue()

"""predict and evaluate with align=auto: photos with and without faces, the faces extra missing,
a landmarks file, the framing a checkpoint or an ONNX export carries, ONNX parity when aligned."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from conftest import run_env
from inference_fixtures import SYNTHETIC_RECIPE, ColourOracle, placed_face, write_checkpoint
from omegaconf import OmegaConf
from PIL import Image
from skimage import data

from seg_f1 import predict
from seg_f1.data.folder import Sample
from seg_f1.data.framing import CELEBA_HQ, SYNTHETIC
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.inference.faces import FaceFinder
from seg_f1.inference.model import ArrayNetwork, load_model
from seg_f1.inference.onnx_export import export_onnx
from seg_f1.inference.onnx_model import OnnxModel
from seg_f1.inference.parse import Aligner, predict_masks
from seg_f1.inference.scoring import evaluate_aligned
from seg_f1.metrics import f1_from_confusion
from seg_f1.module import SegmentationModule


def astronaut_in_a_larger_photo() -> np.ndarray:
    """The astronaut turned 8 degrees on a 700x600 grey photo."""
    place = cv2.getRotationMatrix2D((256, 256), 8, 0.9)
    place[:, 2] += (120, 60)
    return cv2.warpAffine(data.astronaut(), place, (700, 600), borderValue=(128, 128, 128))


def predict_cfg(ckpt, source, output, **extra):
    keys = {"backend": "torch", "ckpt_path": str(ckpt), "onnx_model": None, "input": str(source),
            "output": str(output), "overlay": True, "batch_size": 2, "progress": False,
            "overwrite": False, "align": "auto", **extra}  # fmt: skip
    return OmegaConf.create(keys)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(astronaut_in_a_larger_photo()).save(folder / "astronaut.png")
    noise = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "noise.png")
    return folder


def test_auto_parses_the_face_draws_it_on_the_overlay_and_names_a_photo_without_one(
    tmp_path, photos, caplog
):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    with caplog.at_level(logging.INFO):
        written = predict.run(predict_cfg(ckpt, photos, tmp_path / "out"))
    assert sorted(p.name for p in written) == ["astronaut_mask.png", "noise_mask.png"]
    assert f"{photos / 'noise.png'}: no face found, parsed whole (on_no_face=full)" in caplog.text
    assert "no face found in 1 image (parsed whole)" in caplog.text
    mask = np.asarray(Image.open(tmp_path / "out" / "astronaut_mask.png"))
    assert mask.shape == (600, 700)
    overlay = np.asarray(Image.open(tmp_path / "out" / "astronaut_overlay.png"))
    assert overlay.shape == (600, 700, 3)
    (face, *_) = FaceFinder()(astronaut_in_a_larger_photo())
    x0, y0, x1, y1 = face.box
    assert (overlay[y0, x0 + 5 : x1 - 5] == 255).all()  # the box's top edge, white
    x, y = np.round(face.landmarks[4]).astype(int)
    assert tuple(overlay[y, x]) == (0, 255, 0)  # the nose landmark, green


def test_on_no_face_skip_writes_no_mask_and_says_so(tmp_path, photos, caplog):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    cfg = predict_cfg(ckpt, photos / "noise.png", tmp_path / "out", on_no_face="skip")
    with caplog.at_level(logging.INFO):
        assert predict.run(cfg) == []
    assert f"{photos / 'noise.png'}: no face found, skipped" in caplog.text
    assert not (tmp_path / "out" / "noise_mask.png").exists()


def test_auto_without_the_faces_extra_is_an_error_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # as if dlib-bin were not installed
    with pytest.raises(ImportError, match=r'pip install "seg_f1\[faces\]"'):
        Aligner(OmegaConf.create({"align": "auto"}))
    with pytest.raises(ValueError, match="align='sideways'"):
        Aligner(OmegaConf.create({"align": "sideways"}))
    with pytest.raises(ValueError, match="on_no_face='drop'"):
        Aligner(OmegaConf.create({"align": "none", "on_no_face": "drop"}))


def test_a_landmarks_file_replaces_the_detector_and_a_bad_one_is_named(tmp_path):
    photo, _, points = placed_face(1, np.array([[1.0, 0, 30], [0, 1.0, 20]]), (200, 180))
    given = tmp_path / "landmarks.json"
    given.write_text(json.dumps({"face.png": [points.tolist()]}))
    aligner = Aligner(OmegaConf.create({"align": "auto", "landmarks": str(given)}))
    found, _ = aligner(tmp_path / "face.png", photo)
    assert np.allclose(found[0], points)
    given.write_text(json.dumps({"face.png": [[[1, 2], [3, 4]]]}))
    with pytest.raises(
        ValueError, match=r"landmarks=.*landmarks.json: 'face.png' needs faces of 5"
    ):
        Aligner(OmegaConf.create({"align": "auto", "landmarks": str(given)}))


def test_the_framing_a_checkpoint_carries_or_its_data_config_gives(tmp_path):
    ckpt = write_checkpoint(tmp_path / "old.ckpt")  # written before framings were stored
    assert load_model(ckpt)[1].framing["template"] == [list(p) for p in CELEBA_HQ]
    checkpoint = torch.load(ckpt, weights_only=True)
    custom = [[0.7, 0.4], [0.6, 0.4], [0.3, 0.4], [0.4, 0.4], [0.5, 0.6]]
    torch.save({**checkpoint, "framing": {"name": "lapa", "template": custom}}, tmp_path / "c.ckpt")
    assert load_model(tmp_path / "c.ckpt")[1].framing == {"name": "lapa", "template": custom}
    torch.save({**checkpoint, "framing": {"name": "x", "template": [[2, 0]]}}, tmp_path / "b.ckpt")
    with pytest.raises(ValueError, match=r"b.ckpt: framing: template must be 5"):
        load_model(tmp_path / "b.ckpt")
    # training stores its data's framing: the synthetic set's own
    config = {"data": {"source": {"_target_": "seg_f1.data.synthetic.SyntheticFaces"}}}
    module = SegmentationModule(class_names=list(CLASSES), run_config=config)
    saved: dict = {}
    module.on_save_checkpoint(saved)
    assert saved["framing"] == {"name": "synthetic", "template": [list(p) for p in SYNTHETIC]}


def test_onnx_carries_the_framing_and_parses_an_aligned_face_like_torch(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt", image_size=64)
    model, recipe = load_model(ckpt)
    export_onnx(model, recipe, tmp_path / "m.onnx")
    onnx_model = OnnxModel(tmp_path / "m.onnx")
    assert onnx_model.recipe.framing == recipe.framing
    photo = astronaut_in_a_larger_photo()
    points = [face.landmarks for face in FaceFinder()(photo)]
    expected = predict_masks(ArrayNetwork(model), recipe, [photo], [points])[0]
    got = predict_masks(onnx_model, onnx_model.recipe, [photo], [points])[0]
    assert (got == expected).mean() > 0.999


def test_the_command_line_parses_an_aligned_face_with_onnx_as_with_torch(tmp_path):
    """``python -m seg_f1.predict align=auto`` as a user types it, once per backend: the same
    face found and warped, the same mask on all but a few pixels."""
    ckpt = write_checkpoint(tmp_path / "model.ckpt", image_size=64)
    export_onnx(*load_model(ckpt), tmp_path / "m.onnx")
    (tmp_path / "photos").mkdir()
    Image.fromarray(astronaut_in_a_larger_photo()).save(tmp_path / "photos" / "astronaut.png")
    masks = {}
    for backend, model in (("torch", f"ckpt_path={ckpt}"),
                           ("onnx", f"onnx_model={tmp_path / 'm.onnx'}")):  # fmt: skip
        command = [sys.executable, "-m", "seg_f1.predict", f"backend={backend}", model,
                   f"input={tmp_path / 'photos'}", f"output={tmp_path / backend}", "align=auto",
                   "overlay=false", "progress=false",
                   f"hydra.run.dir={tmp_path / f'{backend}_run'}"]  # fmt: skip
        done = subprocess.run(command, cwd=tmp_path, env=run_env(), capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "no face found" not in done.stdout + done.stderr  # aligned, not parsed whole
        masks[backend] = np.asarray(Image.open(tmp_path / backend / "astronaut_mask.png"))
    assert masks["torch"].shape == (600, 700)
    assert (masks["onnx"] == masks["torch"]).mean() > 0.999


def test_evaluate_aligned_scores_a_placed_face_at_its_masks_own_size(tmp_path, caplog):
    photo, truth, points = placed_face(4, cv2.getRotationMatrix2D((64, 64), 15, 1.5), (260, 240))
    Image.fromarray(cv2.resize(photo, (520, 480), interpolation=cv2.INTER_NEAREST)).save(
        tmp_path / "face.png"
    )  # the photo at twice the mask's side, as CelebAMask-HQ's are
    Image.fromarray(truth).save(tmp_path / "face_mask.png")
    Image.fromarray(np.zeros((240, 260), np.uint8)).save(tmp_path / "empty_mask.png")
    Image.fromarray(np.full((480, 520, 3), 128, np.uint8)).save(tmp_path / "empty.png")
    landmarks = tmp_path / "landmarks.json"
    landmarks.write_text(json.dumps({"face.png": [((points + 0.5) * 2 - 0.5).tolist()]}))
    aligner = Aligner(
        OmegaConf.create({"align": "auto", "landmarks": str(landmarks), "on_no_face": "skip"})
    )
    samples = [Sample(tmp_path / f"{n}.png", tmp_path / f"{n}_mask.png") for n in ("face", "empty")]
    with caplog.at_level(logging.WARNING):
        confusion = evaluate_aligned(ColourOracle(SYNTHETIC_RECIPE), SYNTHETIC_RECIPE, samples,
                                     CLASSES, aligner, progress=False)["argmax"]  # fmt: skip
    assert f"{tmp_path / 'empty.png'}: no face found, skipped" in caplog.text
    assert confusion.sum() == 240 * 260  # the face photo alone, at its mask's size
    seen = (confusion.sum(0) + confusion.sum(1)) > 0
    per_class, mean = f1_from_confusion(confusion[seen][:, seen])
    assert mean > 0.8, per_class


def test_a_face_below_the_detectors_minimum_is_a_named_no_face(caplog):
    place = cv2.getRotationMatrix2D((256, 256), 0, 0.3)  # a face of about 27 px
    photo = cv2.warpAffine(data.astronaut(), place, (400, 300), borderValue=(128, 128, 128))
    aligner = Aligner(OmegaConf.create({"align": "auto"}))
    with caplog.at_level(logging.WARNING):
        assert aligner("small_face.jpg", photo) == (None, [])
    assert "small_face.jpg: no face found, parsed whole (on_no_face=full)" in caplog.text

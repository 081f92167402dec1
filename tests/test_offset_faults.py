"""Decision offsets that would decide silently wrong: non-finite or absurd values in a real
checkpoint, in a real ONNX file's metadata or in a calibration's output are refused naming the
file and the class; tuning on too few images says so."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf

from seg_f1 import export
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.inference.calibration import store_offsets, warn_if_thin
from seg_f1.inference.model import load_model
from seg_f1.inference.onnx_model import OnnxModel
from seg_f1.inference.rules import checked_offsets


def with_offsets(path, offsets):
    """A real checkpoint whose stored offsets were edited after calibration."""
    write_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["decision_offsets"] = {"classes": list(CLASSES), "offsets": offsets}
    torch.save(checkpoint, path)
    return path


@pytest.mark.parametrize(
    ("value", "shown"), [(math.nan, "nan"), (math.inf, "inf"), (1e9, "1000000000.0")]
)
def test_a_checkpoint_with_a_non_finite_or_absurd_offset_is_refused(tmp_path, value, shown):
    offsets = [0.0] * len(CLASSES)
    offsets[CLASSES.index("nose")] = value
    ckpt = with_offsets(tmp_path / "edited.ckpt", offsets)
    with pytest.raises(ValueError) as error:
        load_model(ckpt)
    message = str(error.value)
    assert str(ckpt) in message and "class 'nose' is " + shown in message
    assert "decode=argmax" in message


@pytest.mark.parametrize("offsets", [["0.5"] * 19, [None] * 19, [[0.0], [0.0, 1.0]]])
def test_offsets_that_are_not_numbers_are_refused_by_name(offsets):
    with pytest.raises(ValueError, match=r"edited\.ckpt: decision offsets .* are not numbers"):
        checked_offsets(offsets, CLASSES, "edited.ckpt")


def test_a_checkpoint_with_offsets_of_the_wrong_length_is_refused(tmp_path):
    ckpt = with_offsets(tmp_path / "short.ckpt", [0.0, 0.5])
    with pytest.raises(ValueError, match=r"short\.ckpt: 2 decision offsets for 19 classes"):
        load_model(ckpt)


def test_tuned_offsets_within_the_bound_still_load(tmp_path):
    offsets = [0.0] * len(CLASSES)
    offsets[3] = -4.0
    model, _ = load_model(with_offsets(tmp_path / "ok.ckpt", offsets))
    assert model.decision_offsets[3].item() == -4.0


def test_an_onnx_file_whose_offsets_were_edited_to_nan_is_refused(tmp_path):
    import onnx

    offsets = [0.0] * len(CLASSES)
    offsets[CLASSES.index("hair")] = 0.5
    ckpt = with_offsets(tmp_path / "model.ckpt", offsets)
    onnx_file = tmp_path / "m.onnx"
    keys = {"ckpt_path": str(ckpt), "output": str(onnx_file), "opset": 17, "parity_batch": 1,
            "tolerance": 1e-4, "progress": False}  # fmt: skip
    export.run(OmegaConf.create(keys))
    assert OnnxModel(onnx_file).decision_offsets[CLASSES.index("hair")] == 0.5
    model = onnx.load(str(onnx_file), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == "decision_offsets":
            edited = json.loads(prop.value)
            edited[CLASSES.index("hair")] = "NaN"
            prop.value = json.dumps(edited).replace('"NaN"', "NaN")
    onnx.save(model, str(onnx_file))
    with pytest.raises(ValueError, match=rf"{onnx_file}: decision offset of class 'hair' is nan"):
        OnnxModel(onnx_file)


def test_a_calibration_output_with_a_nan_offset_is_never_stored(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    before = ckpt.read_bytes()
    record = {"classes": list(CLASSES), "offsets": {name: 0.0 for name in CLASSES},
              "tuned_on": "val", "val": {"argmax": 0.5, "f1": 0.5}, "kept_share": 1.0}  # fmt: skip
    record["offsets"]["skin"] = math.nan
    with pytest.raises(ValueError, match="class 'skin' is nan"):
        store_offsets(ckpt, record)
    assert ckpt.read_bytes() == before


def test_tuning_on_a_handful_of_images_says_what_it_needs_and_kept(caplog):
    record = {"offsets": {"background": 0.0, "skin": 4.0, "hair": -4.0}, "images": 10,
              "pixels_sampled": 40960, "kept_share": 1.0}  # fmt: skip
    with caplog.at_level(logging.WARNING):
        warn_if_thin(record, folds=5)
    said = caplog.text
    assert "tuned on 10 images (40,960 pixels): too few" in said
    assert "needs about 50 images (10 per held-out fold)" in said
    assert "kept 1.00 of the tuned offsets (background +0.00, skin +4.00, hair -4.00)" in said
    assert "skin, hair reached the search bound ±4" in said
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        warn_if_thin({**record, "images": 500, "offsets": {"skin": 0.25}}, folds=5)
    assert caplog.text == ""

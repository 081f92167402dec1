"""Decision offsets from a real (tiny) run to the files: calibrate at the end of training, the
command on any checkpoint, evaluate decode=both, predict and the ONNX export with decode=f1."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import CONF
from hydra import compose, initialize_config_dir
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf
from PIL import Image
from skimage import data

from seg_f1 import calibrate, evaluate, export, predict
from seg_f1.runs.checkpoints import load_checkpoint
from seg_f1.training import train


def checkpoint_of(run_dir):
    (ckpt,) = (run_dir / "checkpoints").glob("epoch*.ckpt")
    return ckpt


@pytest.mark.slow
def test_offsets_travel_from_training_to_evaluate_predict_and_onnx(compose_cfg, tmp_path):
    # 32-true: evaluate scores in float32, so the two passes agree to the pixel
    cfg = compose_cfg(
        "calibrate=true", "trainer.precision=32-true", "trainer.limit_train_batches=3"
    )
    train(cfg)
    data_cfg = OmegaConf.to_container(cfg.data, resolve=True)
    result = json.loads((tmp_path / "result.json").read_text())
    decoding = result["decoding"]
    assert decoding["test_f1_argmax"] == pytest.approx(result["test_f1"], abs=1e-6)
    assert decoding["val_f1_tuned"] >= decoding["val_f1_argmax"]
    record = json.loads((tmp_path / "calibration.json").read_text())
    classes = list(cfg.data.classes)
    assert list(record["offsets"]) == classes and record["offsets"]["background"] == 0.0
    assert record["test"]["argmax"] == decoding["test_f1_argmax"]
    assert "## Decision rule" in (tmp_path / "diagnosis.md").read_text()
    assert (tmp_path / "per_class_f1_decoding.png").stat().st_size > 0
    ckpt = checkpoint_of(tmp_path)
    stored = load_checkpoint(ckpt)["decision_offsets"]
    assert stored["classes"] == classes and stored["split"] == "val"
    assert stored["offsets"] == [record["offsets"][name] for name in classes]

    # evaluate: both rules in one pass, the same numbers as the run's own
    evaluate_cfg = OmegaConf.create(
        {
            "ckpt_path": str(ckpt),
            "data": data_cfg,
            "split": "test",
            "tta": "none",
            "eval_at_original_size": False,
            "batch_size": 4,
            "progress": False,
            "decode": "both",
            "output_dir": str(tmp_path / "evaluation"),
        }  # fmt: skip
    )
    scores = evaluate.run(evaluate_cfg)["mean_f1_by_rule"]
    assert scores["argmax"] == pytest.approx(decoding["test_f1_argmax"], abs=1e-9)
    assert scores["f1"] == pytest.approx(decoding["test_f1_tuned"], abs=1e-9)
    assert "f1_tuned" in (tmp_path / "evaluation" / "evaluation.csv").read_text()

    # predict: the offsets decide the masks, the ONNX export carries them
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(data.astronaut()[::8, ::8]).save(photos / "face.png")
    onnx_file = tmp_path / "model.onnx"
    export_keys = {"ckpt_path": str(ckpt), "output": str(onnx_file), "opset": 17,
                   "parity_batch": 1, "progress": False, "tolerance": 1e-4}  # fmt: skip
    export.run(OmegaConf.create(export_keys))
    masks = {}
    for backend, decode in [("torch", "argmax"), ("torch", "f1"), ("onnx", "f1")]:
        out = tmp_path / f"{backend}_{decode}"
        predict.run(
            OmegaConf.create(
                {
                    "backend": backend,
                    "ckpt_path": str(ckpt),
                    "onnx_model": str(onnx_file),
                    "input": str(photos),
                    "output": str(out),
                    "overlay": False,
                    "batch_size": 1,
                    "progress": False,
                    "overwrite": False,
                    "decode": decode,
                }  # fmt: skip
            )
        )
        masks[backend, decode] = np.asarray(Image.open(out / "face_mask.png"))
    same = (masks["torch", "f1"] == masks["onnx", "f1"]).mean()
    assert same > 0.999  # float noise may flip a pixel whose two best classes tie
    offsets = torch.tensor(stored["offsets"])
    if offsets.abs().max() > 0:
        assert not np.array_equal(masks["torch", "f1"], masks["torch", "argmax"])

    # the command on the same checkpoint: store=false leaves it byte for byte
    before = ckpt.read_bytes()
    again_cfg = OmegaConf.create(
        {
            "ckpt_path": str(ckpt),
            "data": data_cfg,
            "split": "val",
            "report_split": "test",
            "max_pixels": 2_000_000,
            "folds": 5,
            "store": False,
            "batch_size": 4,
            "progress": False,
            "output_dir": str(tmp_path / "again"),
        }  # fmt: skip
    )
    again = calibrate.run(again_cfg)
    assert ckpt.read_bytes() == before
    assert again["offsets"] == record["offsets"]
    assert json.loads((tmp_path / "again" / "calibration.json").read_text())["tuned_on"] == "val"

    # into the run's own folder: the end-of-run record is kept beside the new one, not lost
    run_record = (tmp_path / "calibration.json").read_text()
    calibrate.run(
        OmegaConf.create({**OmegaConf.to_container(again_cfg), "output_dir": str(tmp_path)})
    )
    (kept,) = tmp_path.glob("calibration.*.json")
    assert kept.read_text() == run_record
    assert json.loads((tmp_path / "calibration.json").read_text())["offsets"] == again["offsets"]


def test_calibrate_refuses_data_whose_classes_differ_from_the_checkpoints(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("calibrate", overrides=[f"ckpt_path={ckpt}", "data.classes=[background,hair]",
                                              "data.flip_pairs=[]"])  # fmt: skip
    with pytest.raises(ValueError, match=r"model\.ckpt: the checkpoint's classes .* differ from"):
        calibrate.run(cfg)
    assert load_checkpoint(ckpt).get("decision_offsets") is None

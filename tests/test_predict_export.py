"""predict on any photo at its own size, ONNX parity, and checkpoints that need pickle refused."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from conftest import run_env
from inference_fixtures import IMAGENET_MEAN, IMAGENET_STD, write_checkpoint
from omegaconf import OmegaConf
from PIL import Image
from skimage import data

from seg_f1 import export, predict
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.inference import parse
from seg_f1.inference.model import ArrayNetwork, load_checkpoint, load_model
from seg_f1.inference.onnx_export import Parity, export_onnx, parity
from seg_f1.inference.onnx_model import OnnxModel
from seg_f1.report.palette import NAMED


def predict_cfg(ckpt, source, output, **extra):
    keys = {"backend": "torch", "ckpt_path": str(ckpt), "onnx_model": None, "input": str(source),
            "output": str(output), "overlay": True, "batch_size": 2, "progress": False,
            "overwrite": False, **extra}  # fmt: skip
    return OmegaConf.create(keys)


def test_predict_on_a_folder_keeps_each_photos_size_and_skips_bad_files(tmp_path, caplog):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    photos = tmp_path / "photos"
    (photos / "nested").mkdir(parents=True)
    Image.fromarray(data.astronaut()).save(photos / "astronaut.png")  # 512 x 512
    Image.fromarray(data.astronaut()[:300, :200]).save(photos / "nested" / "crop.jpg")
    Image.fromarray(data.astronaut()[:50, :70]).save(photos / "nested" / "small.png")
    (photos / "broken.png").write_bytes(b"not a png")
    written = predict.run(predict_cfg(ckpt, photos, tmp_path / "out"))
    assert len(written) == 3
    sizes = {p.name: Image.open(p).size for p in written}
    assert sizes == {"astronaut_mask.png": (512, 512), "crop_mask.png": (200, 300),
                     "small_mask.png": (70, 50)}  # fmt: skip
    mask = np.asarray(Image.open(tmp_path / "out" / "astronaut_mask.png"))
    assert mask.dtype == np.uint8 and mask.max() < 19
    overlay = Image.open(tmp_path / "out" / "nested" / "crop_overlay.png")
    assert overlay.mode == "RGB" and overlay.size == (200, 300)
    assert "broken.png" in caplog.text


def test_predict_names_a_missing_input(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        predict.run(predict_cfg(ckpt, tmp_path / "nowhere.png", tmp_path / "out"))


def test_predict_refuses_two_photos_that_would_write_one_mask(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    photos = tmp_path / "photos"
    photos.mkdir()
    for suffix in (".jpg", ".png"):
        Image.fromarray(data.astronaut()[:40, :40]).save(photos / f"same{suffix}")
    with pytest.raises(ValueError, match=r"photos/same\.jpg and .*photos/same\.png"):
        predict.run(predict_cfg(ckpt, photos, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_predict_keeps_existing_output_unless_overwrite_and_never_reads_its_own(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(data.astronaut()[:40, :48]).save(photos / name)
    output = photos / "masks"  # inside the input folder
    assert len(predict.run(predict_cfg(ckpt, photos, output))) == 2
    first = (output / "a_mask.png").read_bytes()
    with pytest.raises(FileExistsError, match=r"photos/masks is not empty.*overwrite=true"):
        predict.run(predict_cfg(ckpt, photos, output))
    assert (output / "a_mask.png").read_bytes() == first
    written = predict.run(predict_cfg(ckpt, photos, output, overwrite=True))
    assert sorted(p.name for p in written) == ["a_mask.png", "b_mask.png"]
    assert sorted(p.name for p in output.iterdir()) == [
        "a_mask.png", "a_overlay.png", "b_mask.png", "b_overlay.png", "legend.png"
    ]  # fmt: skip


def export_cfg(ckpt, onnx_file, **extra):
    keys = {"ckpt_path": str(ckpt), "output": str(onnx_file), "opset": 17, "parity_batch": 2,
            "tolerance": 1e-4, "progress": False, **extra}  # fmt: skip
    return OmegaConf.create(keys)


def test_onnx_export_has_dynamic_batch_height_width_and_its_metadata(tmp_path, capsys):
    ckpt = write_checkpoint(tmp_path / "model.ckpt", image_size=32)
    difference = export.run(export_cfg(ckpt, tmp_path / "m.onnx"))
    assert difference < 1e-4
    assert "at 32x32" in capsys.readouterr().out
    import onnx

    model = onnx.load(str(tmp_path / "m.onnx"))
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        names = [d.dim_param or d.dim_value for d in dims]
        assert names == ["batch", 3 if value.name == "image" else 19, "height", "width"], names
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["class_names"]) == list(CLASSES)
    assert json.loads(props["palette"])[1] == list(NAMED["skin"])
    assert json.loads(props["mean"]) == IMAGENET_MEAN and json.loads(props["std"]) == IMAGENET_STD
    assert props["image_size"] == "32"
    assert props["size_multiple"] == "8"  # encoder_depth 3: stride 8 (32 at the default depth)


def test_an_export_at_32_px_runs_at_128_px_like_torch(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt", image_size=32)
    export.run(export_cfg(ckpt, tmp_path / "m.onnx"))
    torch_model, _ = load_model(ckpt)
    onnx_model = OnnxModel(tmp_path / "m.onnx")
    images = torch.randn(1, 3, 128, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = torch_model(images).numpy()
    got = onnx_model(images.numpy())
    assert got.shape == (1, 19, 128, 96)
    assert np.abs(got - expected).max() < 1e-4


def test_predict_with_onnx_needs_no_checkpoint_and_matches_torch_at_two_sizes(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt", image_size=32)
    command = [sys.executable, "-m", "seg_f1.export", f"ckpt_path={ckpt}",
               f"output={tmp_path / 'm.onnx'}",
               f"hydra.run.dir={tmp_path / 'export_run'}"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=run_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    said = done.stdout + done.stderr
    assert f"export: run directory {tmp_path / 'export_run'}" in said
    assert f"wrote {tmp_path / 'm.onnx'}" in said and "export done; its log and results" in said
    photos = [data.astronaut(), data.astronaut()[100:400, 150:350]]  # 512x512 and 300x200
    torch_model, recipe = load_model(ckpt)
    onnx_model = OnnxModel(tmp_path / "m.onnx")
    assert onnx_model.recipe == recipe and onnx_model.class_names == torch_model.class_names
    for photo in photos:
        (expected,) = parse.predict_logits(ArrayNetwork(torch_model), recipe, [photo])
        (got,) = parse.predict_logits(onnx_model, onnx_model.recipe, [photo])
        assert got.shape == (19, *photo.shape[:2])
        assert (got - expected).abs().max() < 1e-4
    (tmp_path / "photos").mkdir()
    Image.fromarray(photos[1]).save(tmp_path / "photos" / "crop.png")
    ckpt.unlink()  # the ONNX file alone is enough
    # through the command line a user types, not a hand-made config
    command = [sys.executable, "-m", "seg_f1.predict", "backend=onnx",
               f"onnx_model={tmp_path / 'm.onnx'}", f"input={tmp_path / 'photos'}",
               f"output={tmp_path / 'out'}", "progress=false",
               "align=none"]  # fmt: skip  # the whole-photo parse, as predict_masks' default
    done = subprocess.run(command, cwd=tmp_path, env=run_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "predict: run directory " in done.stdout and "predict done; its log" in done.stdout
    mask = np.asarray(Image.open(tmp_path / "out" / "crop_mask.png"))
    expected_mask = parse.predict_masks(ArrayNetwork(torch_model), recipe, [photos[1]])[0]
    assert mask.shape == (300, 200) and (mask == expected_mask).mean() > 0.999
    assert (tmp_path / "out" / "crop_overlay.png").is_file()
    assert (tmp_path / "out" / "legend.png").is_file()


def test_predict_with_onnx_names_a_file_that_is_not_a_seg_f1_export(tmp_path):
    import onnx

    plain = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["image"], ["logits"])], "plain",
        [onnx.helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [1])],
    ))  # fmt: skip
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(ValueError, match=r"plain\.onnx: not a seg_f1 ONNX export.*class_names"):
        OnnxModel(tmp_path / "plain.onnx")
    with pytest.raises(ValueError, match="backend=onnx needs onnx_model="):
        predict.run(predict_cfg(None, tmp_path, tmp_path / "out", backend="onnx"))


def test_onnx_parity_failure_is_an_error_that_leaves_no_file_and_keeps_an_old_one(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    cfg = export_cfg(ckpt, tmp_path / "m.onnx", parity_batch=1, tolerance=1e-12)
    with pytest.raises(
        RuntimeError, match=r"by \d\.\d+e-\d+ of the largest logit.*tolerance=1e-12"
    ):
        export.run(cfg)
    assert list(tmp_path.glob("*.onnx")) == [] and list(tmp_path.glob(".*")) == []
    (tmp_path / "m.onnx").write_bytes(b"an earlier export")
    with pytest.raises(RuntimeError, match=r"m\.onnx was not written"):
        export.run(cfg)
    assert (tmp_path / "m.onnx").read_bytes() == b"an earlier export"


def test_onnx_parity_is_relative_to_the_largest_logit(tmp_path):
    """A trained model's logits reach the hundreds: float noise of 3e-3 there is 3e-6 of them."""
    ckpt = write_checkpoint(tmp_path / "model.ckpt", image_size=32)
    model, _ = load_model(ckpt)
    with torch.no_grad():
        model.net.segmentation_head[0].weight.mul_(1000.0)
        model.net.segmentation_head[0].bias.mul_(1000.0)
    path = tmp_path / "m.onnx"
    export_onnx(model, load_model(ckpt)[1], path)
    result = parity(model, path, 32, 32)
    assert result.largest > 100 and result.relative <= 1e-4
    assert result.relative == pytest.approx(result.difference / result.largest)
    assert Parity(2.686e-3, 958.0).relative == pytest.approx(2.8038e-6, rel=1e-4)


def test_export_prints_no_legacy_exporter_warning(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt", image_size=32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export.run(export_cfg(ckpt, tmp_path / "m.onnx"))
    assert [str(w.message) for w in caught if "legacy" in str(w.message)] == []


class Payload:
    """Any class outside the allow-list: unpickling it could run code."""

    def __reduce__(self):
        return (print, ("this would have run",))


def test_a_checkpoint_that_needs_arbitrary_pickle_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "extra": Payload()}, path)
    with pytest.raises(ValueError, match="evil.ckpt: refused, it needs arbitrary pickle"):
        load_checkpoint(path)
    assert "this would have run" not in capsys.readouterr().out

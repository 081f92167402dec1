"""predict on any photo at its own size, ONNX parity, and checkpoints that need pickle refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf
from PIL import Image
from skimage import data

from seg_f1 import export, predict
from seg_f1.inference import load_checkpoint


def predict_cfg(ckpt, source, output, **extra):
    keys = {"ckpt_path": str(ckpt), "input": str(source), "output": str(output), "overlay": True,
            "batch_size": 2, "progress": False, "overwrite": False, **extra}  # fmt: skip
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
        "a_mask.png", "a_overlay.png", "b_mask.png", "b_overlay.png"
    ]  # fmt: skip


def test_onnx_export_agrees_with_torch_for_any_batch(tmp_path, capsys):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    cfg = OmegaConf.create({"ckpt_path": str(ckpt), "output": str(tmp_path / "m.onnx"),
                            "opset": 17, "parity_batch": 3, "tolerance": 1e-3})  # fmt: skip
    difference = export.run(cfg)
    assert difference < 1e-3 and (tmp_path / "m.onnx").is_file()
    assert "max abs logit difference" in capsys.readouterr().out
    import onnx

    model = onnx.load(str(tmp_path / "m.onnx"))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_onnx_parity_failure_is_an_error(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    cfg = OmegaConf.create({"ckpt_path": str(ckpt), "output": str(tmp_path / "m.onnx"),
                            "opset": 17, "parity_batch": 1, "tolerance": 1e-12})  # fmt: skip
    with pytest.raises(RuntimeError, match="tolerance=1e-12"):
        export.run(cfg)


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

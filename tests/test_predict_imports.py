"""predict's lean import path (issue 24): parsing a photo with the torch backend loads neither the
training stack (Lightning, torchmetrics, albumentations) nor matplotlib, which cost every run
about 130 MB before a photo is read (overlays and legend.png are drawn with OpenCV). The
ONNX backend imports no torch at all (smp, timm and torchvision with it: ~1 GB and ~4 s of a
one-photo command on 2 cores)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import run_env
from inference_fixtures import write_checkpoint
from PIL import Image

HEAVY = ("lightning", "pytorch_lightning", "torchmetrics", "albumentations", "matplotlib")

# the command as ``python -m seg_f1.predict`` runs it (Hydra included), then what it loaded
CHILD = """
import sys
from seg_f1 import predict
sys.argv = ["seg_f1.predict", *sys.argv[1:]]
predict.main()
print("LOADED=" + ",".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_by_predict(tmp_path, *overrides: str) -> set[str]:
    ckpt = tmp_path / "model.ckpt"
    if not ckpt.is_file():
        write_checkpoint(ckpt)
    photo = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    command = [sys.executable, "-c", CHILD, f"ckpt_path={ckpt}", f"input={tmp_path / 'photo.jpg'}",
               f"output={tmp_path / 'out'}", "progress=false",
               f"hydra.run.dir={tmp_path / 'run'}", *overrides]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=run_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "photo_mask.png").is_file()
    return set(done.stdout.split("LOADED=")[1].split()[0].split(","))


def test_predict_with_torch_loads_no_training_stack_and_no_matplotlib(tmp_path):
    loaded = loaded_by_predict(tmp_path, "align=none", "overlay=false")
    offenders = sorted(loaded & set(HEAVY))
    assert not offenders, f"predict (backend=torch, overlay=false) imported {offenders}"
    assert "dlib" not in loaded and "onnxruntime" not in loaded  # align=auto, backend=onnx only


@pytest.mark.parametrize("align", ["none", "auto"])
def test_overlays_and_their_legend_load_no_matplotlib_and_no_training_stack(tmp_path, align):
    pytest.importorskip("dlib") if align == "auto" else None
    loaded = loaded_by_predict(tmp_path, f"align={align}", "overlay=true")
    offenders = sorted(loaded & set(HEAVY))
    assert not offenders, f"predict (align={align}, overlay=true) imported {offenders}"
    assert (tmp_path / "out" / "legend.png").is_file()


@pytest.mark.parametrize("align", ["none", "auto"])
def test_predict_with_onnx_loads_no_torch(tmp_path, align):
    from seg_f1.inference.model import load_model
    from seg_f1.inference.onnx_export import export_onnx

    export_onnx(*load_model(write_checkpoint(tmp_path / "model.ckpt")), tmp_path / "m.onnx")
    loaded = loaded_by_predict(tmp_path, "backend=onnx", f"onnx_model={tmp_path / 'm.onnx'}",
                               f"align={align}", "overlay=false")  # fmt: skip
    offenders = sorted(
        loaded & {*HEAVY, "torch", "segmentation_models_pytorch", "timm", "torchvision"}
    )
    assert not offenders, f"predict (backend=onnx, align={align}) imported {offenders}"
    assert "onnxruntime" in loaded

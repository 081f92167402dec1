"""An exported ONNX model that carries what a deployer needs (class names, palette, mean/std,
training size, the size multiple the network takes) in its ``metadata_props``, and runs through
onnxruntime alone: no torch checkpoint, no seg_f1 config.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seg_f1.inference.model import InputRecipe
from seg_f1.report.palette import palette

INPUT, OUTPUT = "image", "logits"
DYNAMIC_AXES = {name: {0: "batch", 2: "height", 3: "width"} for name in (INPUT, OUTPUT)}
REQUIRED = ("class_names", "mean", "std", "image_size", "size_multiple")


def metadata(class_names, recipe: InputRecipe, size_multiple: int) -> dict[str, str]:
    """``metadata_props`` as JSON strings: lists stay lists in any language's JSON reader."""
    return {
        "class_names": json.dumps(list(class_names)),
        "palette": json.dumps(palette(class_names).tolist()),
        "mean": json.dumps(list(recipe.mean)),
        "std": json.dumps(list(recipe.std)),
        "image_size": str(recipe.image_size),
        "size_multiple": str(size_multiple),
        "flip_pairs": json.dumps([list(pair) for pair in recipe.flip_pairs]),
        "input": f"{INPUT}: float32 [batch, 3, height, width], RGB in [0, 1] minus mean over std",
        "output": f"{OUTPUT}: float32 [batch, classes, height, width]",
    }


def read_metadata(path: Path) -> dict[str, str]:
    import onnxruntime

    props = onnxruntime.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    missing = [key for key in REQUIRED if key not in props]
    if missing:
        raise ValueError(
            f"{path}: not a seg_f1 ONNX export, metadata_props lacks {missing}; export it again "
            "with python -m seg_f1.export"
        )
    return props


class OnnxModel:
    """Called like the torch network (a normalised [B, 3, H, W] tensor -> logits)."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime

        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model: no such ONNX file {path}")
        props = read_metadata(path)
        self.class_names: list[str] = json.loads(props["class_names"])
        self.size_multiple = int(props["size_multiple"])
        self.recipe = InputRecipe(
            int(props["image_size"]),
            tuple(json.loads(props["mean"])),
            tuple(json.loads(props["std"])),
            tuple(tuple(pair) for pair in json.loads(props.get("flip_pairs", "[]"))),
        )
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def __call__(self, batch: Tensor) -> Tensor:
        images = batch.detach().cpu().numpy().astype(np.float32)
        (logits,) = self.session.run([OUTPUT], {INPUT: images})
        return torch.from_numpy(logits)

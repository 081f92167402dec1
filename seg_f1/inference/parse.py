"""A photo parsed at its own size by a model that sees squares of its training size: the torch
network or its ONNX export, chosen by ``backend``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor

from seg_f1.inference.decoding import decode
from seg_f1.inference.model import InputRecipe, load_model, to_tensor
from seg_f1.inference.onnx_model import OnnxModel


@torch.no_grad()
def predict_logits(
    model: Callable[[Tensor], Tensor], recipe: InputRecipe, images: Sequence[np.ndarray]
) -> list[Tensor]:
    """[C, H, W] logits per photo, each at the photo's own height and width; ``model`` is the
    torch network or an :class:`OnnxModel`."""
    size = (recipe.image_size, recipe.image_size)
    small = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images]
    logits = model(to_tensor(small, recipe))
    return [
        F.interpolate(one[None], size=image.shape[:2], mode="bilinear", align_corners=False)[0]
        for image, one in zip(images, logits, strict=True)
    ]


def predict_masks(
    model, recipe: InputRecipe, images: Sequence[np.ndarray], offsets: Tensor | None = None
) -> list[np.ndarray]:
    """One uint8 index mask per photo, each at the photo's own height and width; ``offsets``:
    the F1 decision rule's per-class offsets (``seg_f1.inference.decoding``), None for argmax."""
    logits = predict_logits(model, recipe, images)
    return [decode(one, offsets, dim=0).numpy().astype(np.uint8) for one in logits]


def load_backend(cfg: DictConfig) -> tuple[Any, InputRecipe]:
    """``backend=torch``: the checkpoint ``ckpt_path``; ``backend=onnx``: the export
    ``onnx_model`` (not ``model``: that name is the training config's model group)."""
    if cfg.backend == "torch":
        if not cfg.get("ckpt_path"):
            raise ValueError("backend=torch needs ckpt_path=<checkpoint>")
        return load_model(cfg.ckpt_path)
    if cfg.backend == "onnx":
        if not cfg.get("onnx_model"):
            raise ValueError(
                "backend=onnx needs onnx_model=<file.onnx> (from python -m seg_f1.export)"
            )
        model = OnnxModel(cfg.onnx_model)
        return model, model.recipe
    raise ValueError(f"backend={cfg.backend}: expected torch or onnx")

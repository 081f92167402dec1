"""Checkpoints loaded for inference without arbitrary pickle, and the model's input recipe.

``torch.load(weights_only=True)`` only rebuilds tensors and plain containers (seg_f1 stores its
RNG states without numpy objects for this); a file that needs any other class is refused.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from seg_f1.module import SegmentationModule


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path: no such file {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path}: refused, it needs arbitrary pickle to load, which could run any code "
            f"(weights_only=True found: {str(error).splitlines()[0][:300]}). Only load "
            "checkpoints written by seg_f1 training, or re-save the weights as a state_dict."
        ) from error


@dataclass(frozen=True)
class InputRecipe:
    """How the model saw its images: square size and normalisation (the model's own stored
    mean/std, or for an older checkpoint those of its stored data config)."""

    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip_pairs: tuple[tuple[str, str], ...]


def load_model(path: str | Path) -> tuple[SegmentationModule, InputRecipe]:
    """The network in eval mode and the input recipe from the checkpoint's stored run config."""
    checkpoint = load_checkpoint(path)
    for key in ("state_dict", "hyper_parameters", "class_names"):
        if key not in checkpoint:
            raise ValueError(f"{path}: not a seg_f1 checkpoint, key {key!r} is missing")
    hparams = {**checkpoint["hyper_parameters"], "encoder_weights": None, "compile": False}
    data = (checkpoint.get("config") or {}).get("data")
    if data is None:
        raise ValueError(f"{path}: the checkpoint has no stored config.data (image size, mean)")
    module = SegmentationModule(**hparams)
    module.on_load_checkpoint(checkpoint)  # mean/std of a checkpoint from before they were stored
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    recipe = InputRecipe(
        int(data["image_size"]),
        tuple(module.hparams.mean),
        tuple(module.hparams.std),
        tuple(tuple(pair) for pair in data.get("flip_pairs", ())),
    )
    return module, recipe

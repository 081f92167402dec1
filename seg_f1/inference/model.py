"""Checkpoints loaded for inference (never through arbitrary pickle), and the model's input
recipe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seg_f1.data.framing import checked, framing_of
from seg_f1.inference.decoding import stored_offsets
from seg_f1.module import SegmentationModule
from seg_f1.network import channel_vector, normalise_pixels
from seg_f1.runs.checkpoints import load_checkpoint


@dataclass(frozen=True)
class InputRecipe:
    """How the model saw its images: square size and normalisation (the model's own stored
    mean/std, or for an older checkpoint those of its stored data config), and where the faces
    sat in them (``framing``: a name and a 5-landmark template, seg_f1/data/framing.py)."""

    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    flip_pairs: tuple[tuple[str, str], ...]
    framing: dict = field(default_factory=lambda: framing_of(None), compare=False)


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
    # the F1 decision rule's class offsets (seg_f1.calibrate), or None
    module.decision_offsets = stored_offsets(checkpoint, module.class_names, path)
    return module, recipe_of(module, data, stored_framing(checkpoint, data, path))


def recipe_of(module: SegmentationModule, data: dict, framing: dict | None = None) -> InputRecipe:
    """The recipe of a module trained on the data config ``data`` (and its framing)."""
    return InputRecipe(
        int(data["image_size"]),
        tuple(module.hparams.mean),
        tuple(module.hparams.std),
        tuple(tuple(pair) for pair in data.get("flip_pairs", ())),
        framing_of(data) if framing is None else framing,
    )


def stored_framing(checkpoint: dict, data: dict, path) -> dict:
    """The checkpoint's ``framing``; one written before framings were stored gets its data
    config's (the synthetic set's, or CelebA-HQ's, seg_f1/data/framing.py)."""
    if "framing" in checkpoint:
        return checked(checkpoint["framing"], f"{path}: framing")
    return framing_of(data)


def to_tensor(images: Sequence[np.ndarray], recipe: InputRecipe) -> Tensor:
    """uint8 [H, W, 3] photos of the model size -> a normalised [B, 3, H, W] batch."""
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    return normalise_pixels(batch, channel_vector(recipe.mean), channel_vector(recipe.std))

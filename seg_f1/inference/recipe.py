"""How a model saw its images (square size, normalisation, face framing) and photos turned into
its input, in numpy: predict through onnxruntime never imports torch, which alone costs ~1.7 s
of a one-photo command on 2 cores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from seg_f1.data.framing import framing_of


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


def recipe_of(data: dict, mean, std, framing: dict | None = None) -> InputRecipe:
    """The recipe of a model normalising with ``mean``/``std`` and trained on the data config
    ``data`` (and its framing)."""
    return InputRecipe(
        int(data["image_size"]),
        tuple(mean),
        tuple(std),
        tuple(tuple(pair) for pair in data.get("flip_pairs", ())),
        framing_of(data) if framing is None else framing,
    )


def normalised_batch(images: Sequence[np.ndarray], recipe: InputRecipe) -> np.ndarray:
    """uint8 [H, W, 3] photos of the model size -> a float32 [B, 3, H, W] batch, as training
    normalises (``seg_f1.network.normalise_pixels``: pixels / 255, minus mean, over std)."""
    batch = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    mean = np.asarray(recipe.mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(recipe.std, np.float32).reshape(1, -1, 1, 1)
    return (batch - mean) / std

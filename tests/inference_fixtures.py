"""A small seg_f1 checkpoint written as training writes one: weights, hparams, classes, config."""

from __future__ import annotations

from pathlib import Path

import cv2
import lightning
import numpy as np
import torch

from seg_f1.data.drawing import sample_with_landmarks
from seg_f1.data.framing import framing_of
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.data.labels import CELEBAMASK_HQ_FLIP_PAIRS as FLIP_PAIRS
from seg_f1.inference.recipe import InputRecipe
from seg_f1.module import SegmentationModule
from seg_f1.report.palette import colourise, palette

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def write_checkpoint(
    path: Path, image_size: int = 32, mean=IMAGENET_MEAN, std=IMAGENET_STD, full: bool = False
) -> Path:
    """A tiny U-Net (encoder depth 3), or with ``full`` the default U-Net-resnet18."""
    torch.manual_seed(0)
    module = SegmentationModule(
        class_names=list(CLASSES),
        encoder_name="resnet18",
        model_kwargs={} if full else {"encoder_depth": 3, "decoder_channels": [32, 16, 8]},
        mean=list(mean),
        std=list(std),
    )
    data = {
        "image_size": image_size,
        "mean": list(mean),
        "std": list(std),
        "classes": list(CLASSES),
        "flip_pairs": [list(pair) for pair in FLIP_PAIRS],
    }
    checkpoint = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "class_names": list(CLASSES),
        "config": {"data": data},
        "pytorch-lightning_version": lightning.__version__,
    }
    torch.save(checkpoint, path)
    return path


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A 2x3 matrix applied to [N, 2] points."""
    return np.asarray(points) @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]


class ColourOracle:
    """A stand-in for a perfect model of colourised masks: each pixel's class is the palette
    colour nearest to it, as logits (10 for that class, 0 for the others)."""

    def __init__(self, recipe: InputRecipe) -> None:
        self.recipe = recipe
        self.colours = palette(CLASSES).astype(np.float32)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Normalised float32 [B, 3, H, W] in, logits out, as predict calls a model."""
        mean = np.asarray(self.recipe.mean, np.float32)[None, :, None, None]
        std = np.asarray(self.recipe.std, np.float32)[None, :, None, None]
        rgb = (batch * std + mean) * 255
        distance = ((rgb[:, None] - self.colours[None, :, :, None, None]) ** 2).sum(2)
        nearest = distance.argmin(1)  # [B, H, W]
        classes = np.arange(len(CLASSES))[None, :, None, None]
        return (nearest[:, None] == classes).astype(np.float32) * 10.0


SYNTHETIC_RECIPE = InputRecipe(
    128, (0.0,) * 3, (1.0,) * 3, (), framing_of({"framing": "synthetic"})
)


def placed_face(index: int, place: np.ndarray, canvas: tuple[int, int]):
    """A synthetic face (its mask coloured, so ColourOracle reads it back) placed on a canvas:
    the photo, its ground-truth mask, its landmarks there."""
    _, mask, points = sample_with_landmarks(0, "test", index, 128)
    photo = cv2.warpAffine(colourise(mask, CLASSES), place, canvas, flags=cv2.INTER_NEAREST)
    truth = cv2.warpAffine(mask, place, canvas, flags=cv2.INTER_NEAREST)
    return photo, truth, apply(place, points)

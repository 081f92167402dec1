"""A small seg_f1 checkpoint written as training writes one: weights, hparams, classes, config."""

from __future__ import annotations

from pathlib import Path

import lightning
import torch

from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.data.labels import CELEBAMASK_HQ_FLIP_PAIRS as FLIP_PAIRS
from seg_f1.module import SegmentationModule

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

"""Checkpoints loaded for inference (never through arbitrary pickle), with the input recipe they
store (``recipe.py``). The network is rebuilt without the LightningModule: Lightning, torchmetrics
and albumentations would add 130 MB to every predict, which needs none of them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from seg_f1.data.framing import checked, framing_of
from seg_f1.data.normalisation import IMAGENET_MEAN, IMAGENET_STD
from seg_f1.inference.recipe import InputRecipe, normalised_batch, recipe_of
from seg_f1.inference.rules import stored_offsets
from seg_f1.network import (
    ARCH,
    ENCODER,
    build_network,
    run_network,
    stored_normalisation,
)
from seg_f1.runs.checkpoints import load_checkpoint


class TrainedNetwork(nn.Module):
    """A checkpoint's network, called as ``SegmentationModule`` is (normalised [B, 3, H, W] in,
    logits out) and keeping what inference asks of it: the class names, the F1 decision rule's
    offsets (``seg_f1.calibrate``, or None) and ``net`` itself (export reads its stride)."""

    def __init__(
        self, net: nn.Module, class_names, channels_last: bool, decision_offsets: np.ndarray | None
    ) -> None:
        super().__init__()
        self.net = net
        self.class_names = list(class_names)
        self.channels_last = channels_last
        self.decision_offsets = decision_offsets

    def forward(self, image: Tensor) -> Tensor:
        return run_network(self.net, image, self.channels_last)


def load_model(path: str | Path) -> tuple[TrainedNetwork, InputRecipe]:
    """The network in eval mode and the input recipe from the checkpoint's stored run config.

    The file is memory-mapped and the network built on the meta device, then given the
    checkpoint's own tensors: one copy of the weights is ever held, and a training checkpoint's
    optimizer state is never read into memory."""
    checkpoint = load_checkpoint(path, mmap=True)
    for key in ("state_dict", "hyper_parameters", "class_names"):
        if key not in checkpoint:
            raise ValueError(f"{path}: not a seg_f1 checkpoint, key {key!r} is missing")
    hparams = checkpoint["hyper_parameters"]
    data = (checkpoint.get("config") or {}).get("data")
    if data is None:
        raise ValueError(f"{path}: the checkpoint has no stored config.data (image size, mean)")
    class_names = hparams.get("class_names", checkpoint["class_names"])
    with torch.device("meta"):
        net = build_network(
            class_names, hparams.get("arch", ARCH), hparams.get("encoder_name", ENCODER),
            model_kwargs=hparams.get("model_kwargs"),
        )  # fmt: skip
    given_weights(net, checkpoint["state_dict"], path)
    channels_last = bool(hparams.get("channels_last", False))
    if channels_last:
        net.to(memory_format=torch.channels_last)
    # the F1 decision rule's class offsets (seg_f1.calibrate), or None
    offsets = stored_offsets(checkpoint, class_names, path)
    model = TrainedNetwork(net, class_names, channels_last, offsets).eval()
    mean, std = stored_normalisation(checkpoint) or (
        hparams.get("mean", IMAGENET_MEAN),
        hparams.get("std", IMAGENET_STD),
    )
    return model, recipe_of(data, mean, std, stored_framing(checkpoint, data, path))


def given_weights(net: nn.Module, state_dict: dict, path) -> None:
    """The ``net.`` entries of a SegmentationModule's state_dict put in place (strictly: a
    missing or unexpected key fails); anything still on the meta device is named."""
    prefix = "net."
    weights = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    net.load_state_dict(weights, assign=True)
    empty = [name for name, t in [*net.named_parameters(), *net.named_buffers()] if t.is_meta]
    if empty:
        raise ValueError(f"{path}: the checkpoint holds no values for {empty[:5]}")


def stored_framing(checkpoint: dict, data: dict, path) -> dict:
    """The checkpoint's ``framing``; one written before framings were stored gets its data
    config's (the synthetic set's, or CelebA-HQ's, seg_f1/data/framing.py)."""
    if "framing" in checkpoint:
        return checked(checkpoint["framing"], f"{path}: framing")
    return framing_of(data)


def to_tensor(images: Sequence[np.ndarray], recipe: InputRecipe) -> Tensor:
    """uint8 [H, W, 3] photos of the model size -> a normalised [B, 3, H, W] batch."""
    return torch.from_numpy(normalised_batch(images, recipe))


class ArrayNetwork:
    """A checkpoint's network called as predict calls any backend (an ``OnnxModel`` too): a
    normalised float32 [B, 3, H, W] array in, float32 logits out."""

    def __init__(self, network: TrainedNetwork) -> None:
        self.network = network
        self.class_names = network.class_names
        self.decision_offsets = network.decision_offsets

    @torch.no_grad()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.network(torch.from_numpy(batch)).float().numpy()

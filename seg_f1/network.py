"""The smp network and the pixels it is fed: built from ``conf/model`` with encoder weights from
an smp name or a local file (hubs may be offline), and the one normalisation formula that
training, evaluation, prediction and export share. The LightningModule (``seg_f1.module``) and the
inference loader (``seg_f1.inference.model``) both build, run and normalise through here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seg_f1.runs.checkpoints import load_checkpoint

log = logging.getLogger(__name__)
ARCH, ENCODER = "Unet", "resnet18"  # conf/model's defaults, and an old checkpoint's


def build_network(
    class_names: Sequence[str],
    arch: str = ARCH,
    encoder_name: str = ENCODER,
    encoder_weights: str | None = None,
    model_kwargs: dict | None = None,
    channels_last: bool = False,
) -> nn.Module:
    """The network a run's model hyperparameters name, one output channel per class, its weights
    in NHWC with ``channels_last``."""
    network = create_network(
        arch, encoder_name, encoder_weights, len(class_names), **(model_kwargs or {})
    )
    if channels_last:
        network.to(memory_format=torch.channels_last)
    return network


def run_network(network: nn.Module, image: Tensor, channels_last: bool) -> Tensor:
    """Logits of a normalised batch; a channels_last network gets NHWC input to match."""
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    return network(image)


def stored_normalisation(checkpoint: dict) -> tuple[list[float], list[float]] | None:
    """(mean, std) of a checkpoint written before the model normalised its own input: it has no
    ``mean``/``std`` hyperparameters, and its stored data config says what the weights were
    trained with. None for any other checkpoint (its hyperparameters say)."""
    data = (checkpoint.get("config") or {}).get("data") or {}
    if "mean" in checkpoint.get("hyper_parameters", {}) or "mean" not in data:
        return None
    return list(data["mean"]), list(data["std"])


def create_network(
    arch: str,
    encoder_name: str,
    encoder_weights: str | None,
    num_classes: int,
    **kwargs: Any,
) -> nn.Module:
    """An smp model; ``encoder_weights`` may also be a local file, since hubs may be offline.

    A local file holds the encoder's ``state_dict`` (e.g. torchvision's ``resnet18-*.pth``;
    classifier keys are dropped by smp), loaded strictly so a wrong file fails loudly.
    """
    # here, not at the top: smp loads timm and torchvision (~200 MB), which predict's ONNX
    # backend, importing this module for the recipe's normalisation, never needs
    import segmentation_models_pytorch as smp

    local = encoder_weights is not None and _looks_like_path(encoder_weights)
    network = smp.create_model(
        arch,
        encoder_name=encoder_name,
        encoder_weights=None if local else encoder_weights,
        classes=num_classes,
        **kwargs,
    )
    if local:
        _load_encoder_weights(network, Path(encoder_weights).expanduser())
    return network


def _looks_like_path(value: str) -> bool:
    return Path(value).suffix in (".pth", ".pt", ".bin", ".ckpt") or "/" in value


def _load_encoder_weights(network: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"model.encoder_weights: no such file {path}")
    try:
        state = load_checkpoint(path)
    except ValueError as error:  # empty, truncated or code-carrying: named with its key
        raise ValueError(f"model.encoder_weights: {error}") from error
    if not isinstance(state, dict):
        raise ValueError(
            f"model.encoder_weights: {path} holds a {type(state).__name__}, not a state_dict"
        )
    state = state.get("state_dict", state)
    try:
        network.encoder.load_state_dict(state)
    except RuntimeError as error:
        raise ValueError(
            f"model.encoder_weights: {path} does not fit the {type(network.encoder).__name__} "
            f"encoder: {error}"
        ) from error
    log.info("loaded encoder weights from %s", path)


def channel_vector(values: Sequence[float]) -> Tensor:
    """Per-channel values shaped to broadcast over [B, C, H, W]."""
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)


def normalise_pixels(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """uint8 pixels -> (x / 255 - mean) / std, the formula training and inference share. Float
    pixels must already be on the 0..1 scale (as the device augmentation leaves them): they skip
    the division, so float 0..255 input would come out wrong."""
    scaled = images.float() / 255.0 if images.dtype == torch.uint8 else images
    return (scaled - mean) / std

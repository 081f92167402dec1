"""Reads one image/mask pair, brings both to the model size and applies the augmentation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from seg_f1.data.folder import Sample


def read_image(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def read_mask(path) -> np.ndarray:
    """An index mask: one channel, one class index per pixel."""
    with Image.open(path) as mask:
        if mask.mode not in ("L", "P", "I", "I;16"):
            raise ValueError(
                f"{path}: mask has mode {mask.mode} ({len(mask.getbands())} channels); expected a "
                "single-channel index mask (PNG mode L or P) with one class index per pixel"
            )
        return np.asarray(mask).astype(np.uint8)


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Square resize; masks always nearest-neighbour so no label is ever invented."""
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    if mask.shape[:2] != (size, size):
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return image, mask


class FaceParsingDataset(Dataset):
    """Yields ``{"image": float[3,H,W], "mask": int64[H,W], "name": str}``."""

    def __init__(
        self,
        samples: Sequence[Sample],
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        augment: Callable | None = None,
    ) -> None:
        self.samples = list(samples)
        self.image_size = image_size
        self.mean = np.asarray(mean, np.float32) * 255.0
        self.std = np.asarray(std, np.float32) * 255.0
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        image, mask = resize_pair(read_image(sample.image), read_mask(sample.mask), self.image_size)
        if self.augment is not None:
            out = self.augment(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        image = (image.astype(np.float32) - self.mean) / self.std
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "mask": torch.from_numpy(np.ascontiguousarray(mask)).long(),
            "name": sample.name,
        }

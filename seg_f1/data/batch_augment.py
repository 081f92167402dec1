"""Augmentation of a whole batch on the model's device, after the transfer.

Colour jitter and a small affine warp are per-pixel arithmetic and one grid sample per batch; a
loader core spends about 1 ms per 512² image on each, a GPU a few kernels per batch. Listed in
``data.augment`` like any albumentations step, they run here instead (``BatchAugment``), after
the loader's own steps, on 0..1 float images and int64 masks. On a CPU-only run the same steps
are cheaper in the loader's workers, one image at a time, as their albumentations twins
(``in_loader``): ``data.augment_on`` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import albumentations as A
import cv2
import torch
import torch.nn.functional as F
from torch import Tensor

GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as OpenCV and torchvision weigh RGB
SEED_MODULUS = 2**63 - 1


def batch_seed(run_seed: int, batch_index: int, rank: int) -> int:
    """The seed of one batch's draws: the same batch of a resumed run draws the same, each DDP
    rank draws its own, and no generator state needs keeping in a checkpoint."""
    return ((run_seed * 1_000_003 + batch_index) * 1_009 + rank) % SEED_MODULUS


@dataclass
class Draws:
    """One batch's random numbers: per-image values on the batch's device, per-batch choices
    that Python acts on (the jitter's order) on the host, so nothing waits for the device."""

    device: torch.Generator
    host: torch.Generator

    @classmethod
    def seeded(cls, seed: int, device: torch.device) -> Draws:
        return cls(
            torch.Generator(device=device).manual_seed(seed), torch.Generator().manual_seed(seed)
        )

    def uniform(self, low: float, high: float, count: int) -> Tensor:
        on = self.device.device
        return low + (high - low) * torch.rand(count, device=on, generator=self.device)


class BatchTransform:
    """One step, applied to each image of the batch with probability ``p``, each with its own
    random parameters. Every image is transformed and the unchosen ones are put back with
    ``torch.where``: indexing the chosen ones would make the host wait for the device."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, images: Tensor, masks: Tensor, draws: Draws) -> tuple[Tensor, Tensor]:
        chosen = draws.uniform(0.0, 1.0, images.shape[0]) < self.p
        new_images, new_masks = self.apply(images, masks, draws)
        keep = chosen.view(-1, 1, 1)
        return torch.where(keep[..., None], new_images, images), torch.where(keep, new_masks, masks)

    def apply(self, images: Tensor, masks: Tensor, draws: Draws) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def in_loader(self) -> A.BasicTransform:
        """The albumentations step that does the same to one image in a loader worker."""
        raise NotImplementedError


class BatchAugment:
    """The batch steps of ``data.augment``, in their listed order: uint8 images -> 0..1 floats,
    every draw from ``seed`` (``batch_seed``)."""

    def __init__(self, steps: Sequence[BatchTransform]) -> None:
        self.steps = list(steps)

    def __call__(self, images: Tensor, masks: Tensor, seed: int) -> tuple[Tensor, Tensor]:
        images = images.float() / 255.0 if images.dtype == torch.uint8 else images
        draws = Draws.seeded(seed, images.device)
        for step in self.steps:
            images, masks = step(images, masks, draws)
        return images, masks

    def __repr__(self) -> str:
        return f"BatchAugment({[type(step).__name__ for step in self.steps]})"


def _pair(value, step: str, name: str) -> tuple[float, float]:
    """A [low, high] range, or a named error for anything else (a dict, one number)."""
    if _is_number(value) or len(value) != 2 or not all(_is_number(v) for v in value):
        raise ValueError(f"{step}: {name} must be a [low, high] pair of numbers, got {value!r}")
    low, high = float(value[0]), float(value[1])
    if low > high:
        raise ValueError(f"{step}: {name} range must have low <= high, got {value!r}")
    return low, high


def _factor_range(value: float | Sequence[float], name: str) -> tuple[float, float]:
    """ColorJitter's convention: v means [max(0, 1 - v), 1 + v]; a pair is taken as it is."""
    if _is_number(value):
        value = (max(0.0, 1.0 - value), 1.0 + value)
    low, high = _pair(value, "BatchColourJitter", name)
    if low < 0.0:
        raise ValueError(f"BatchColourJitter: {name} range must be 0 <= low <= high, got {value}")
    return low, high


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def grey(images: Tensor) -> Tensor:
    """[N, 3, H, W] RGB -> [N, 1, H, W] luma."""
    weights = images.new_tensor(GREY_WEIGHTS).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _per_image(factors: Tensor) -> Tensor:
    return factors.view(-1, 1, 1, 1)


def adjust_brightness(images: Tensor, factors: Tensor) -> Tensor:
    return (images * _per_image(factors)).clamp(0.0, 1.0)


def adjust_contrast(images: Tensor, factors: Tensor) -> Tensor:
    """Blend with the image's mean grey level: factor 0 gives a flat grey image."""
    mean = grey(images).mean(dim=(1, 2, 3), keepdim=True)
    return (mean + _per_image(factors) * (images - mean)).clamp(0.0, 1.0)


def adjust_saturation(images: Tensor, factors: Tensor) -> Tensor:
    """Blend with the image's own grey version: factor 0 gives greyscale."""
    luma = grey(images)
    return (luma + _per_image(factors) * (images - luma)).clamp(0.0, 1.0)


def shift_hue(images: Tensor, shifts: Tensor) -> Tensor:
    """Turn each image's hue by ``shifts`` (fractions of the colour circle) in HSV space."""
    red, green, blue = images.unbind(dim=1)
    value, _ = images.max(dim=1)
    chroma = value - images.min(dim=1).values
    saturation = chroma / value.clamp_min(1e-12)
    safe = chroma.clamp_min(1e-12)
    hue = torch.where(
        value == red,
        (green - blue) / safe,
        torch.where(value == green, 2.0 + (blue - red) / safe, 4.0 + (red - green) / safe),
    )
    hue = torch.where(chroma > 0, hue / 6.0, torch.zeros_like(hue))
    sixths = ((hue + shifts.view(-1, 1, 1)) % 1.0) * 6.0

    def channel(n: float) -> Tensor:  # the standard HSV -> RGB by k = (n + 6h) mod 6
        k = (n + sixths) % 6.0
        return value - value * saturation * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)

    return torch.stack([channel(5.0), channel(3.0), channel(1.0)], dim=1)


class BatchColourJitter(BatchTransform):
    """albumentations' ``ColorJitter`` on the device: brightness, contrast and saturation
    factors and a hue shift (fraction of a turn) drawn per image; the order of the four is drawn
    per batch (albumentations draws it per image). Masks are untouched."""

    def __init__(
        self,
        brightness: float | Sequence[float] = 0.2,
        contrast: float | Sequence[float] = 0.2,
        saturation: float | Sequence[float] = 0.2,
        hue: float | Sequence[float] = 0.02,
        p: float = 0.5,
    ) -> None:
        super().__init__(p)
        self.brightness = _factor_range(brightness, "brightness")
        self.contrast = _factor_range(contrast, "contrast")
        self.saturation = _factor_range(saturation, "saturation")
        self.hue = _pair((-hue, hue) if _is_number(hue) else hue, "BatchColourJitter", "hue")
        if not -0.5 <= self.hue[0] <= self.hue[1] <= 0.5:
            raise ValueError(f"BatchColourJitter: hue must lie in [-0.5, 0.5], got {hue}")

    def apply(self, images: Tensor, masks: Tensor, draws: Draws) -> tuple[Tensor, Tensor]:
        count = images.shape[0]
        adjustments = [
            (adjust_brightness, self.brightness),
            (adjust_contrast, self.contrast),
            (adjust_saturation, self.saturation),
            (shift_hue, self.hue),
        ]
        for index in torch.randperm(len(adjustments), generator=draws.host).tolist():
            adjust, (low, high) = adjustments[index]
            images = adjust(images, draws.uniform(low, high, count))
        return images, masks

    def in_loader(self) -> A.ColorJitter:
        return A.ColorJitter(
            brightness=self.brightness, contrast=self.contrast, saturation=self.saturation,
            hue=self.hue, p=self.p,
        )  # fmt: skip


class BatchAffine(BatchTransform):
    """albumentations' ``Affine`` on the device: one scale (both axes, its ``keep_ratio``), a
    shift as a fraction of the size per axis and a rotation in degrees (positive turns
    counter-clockwise as shown), about the image centre, each a [low, high] range. Images are
    sampled bilinearly, masks nearest-neighbour, so no label is invented; what comes in from
    outside is ``fill`` (one grey level) and ``fill_mask``."""

    def __init__(
        self,
        scale: Sequence[float] = (1.0, 1.0),
        translate_percent: Sequence[float] = (0.0, 0.0),
        rotate: Sequence[float] = (0.0, 0.0),
        fill: float = 0.0,
        fill_mask: int = 255,
        p: float = 0.5,
    ) -> None:
        super().__init__(p)
        self.scale = _pair(scale, "BatchAffine", "scale")
        self.translate = _pair(translate_percent, "BatchAffine", "translate_percent")
        self.rotate = _pair(rotate, "BatchAffine", "rotate")
        if self.scale[0] <= 0.0:
            raise ValueError(f"BatchAffine: scale must be above 0, got {scale!r}")
        if not _is_number(fill):
            raise ValueError(f"BatchAffine: fill must be one grey level 0..255, got {fill!r}")
        self.fill, self.fill_mask = float(fill), int(fill_mask)

    def apply(self, images: Tensor, masks: Tensor, draws: Draws) -> tuple[Tensor, Tensor]:
        count = images.shape[0]
        theta = affine_theta(
            draws.uniform(*self.scale, count),
            torch.deg2rad(draws.uniform(*self.rotate, count)),
            draws.uniform(*self.translate, count),
            draws.uniform(*self.translate, count),
            images.shape[-2:],
        )
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        inside = torch.ones_like(images[:, :1])
        warped = F.grid_sample(torch.cat([images, inside], dim=1), grid, align_corners=False)
        images = (warped[:, :3] + (1.0 - warped[:, 3:]) * self.fill / 255.0).clamp(0.0, 1.0)
        # shifted by one, so the zero padding marks "came from outside" exactly
        labels = F.grid_sample(
            (masks + 1).unsqueeze(1).float(), grid, mode="nearest", align_corners=False
        )
        labels = labels.squeeze(1).long() - 1
        return images, torch.where(labels < 0, self.fill_mask, labels)

    def in_loader(self) -> A.Affine:
        return A.Affine(
            scale=self.scale, translate_percent=self.translate, rotate=self.rotate,
            keep_ratio=True, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
            border_mode=cv2.BORDER_CONSTANT, fill=self.fill, fill_mask=self.fill_mask, p=self.p,
        )  # fmt: skip


def affine_theta(
    scale: Tensor, angle: Tensor, shift_x: Tensor, shift_y: Tensor, size: Sequence[int]
) -> Tensor:
    """[N, 2, 3] matrices for ``affine_grid``: each output pixel's source, in -1..1 coordinates.

    In pixels about the centre (y down), the image moves by p -> scale * R p + shift, where R
    turns counter-clockwise on screen; the source of p is therefore R^T (p - shift) / scale.
    Halving the size turns pixels into grid units per axis, so non-square images turn too.
    """
    height, width = size
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    half = torch.tensor([width / 2.0, height / 2.0], device=scale.device)
    inverse = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], dim=-2)
    linear = inverse * half.view(1, 1, 2) / half.view(1, 2, 1)  # D^-1 M D
    shift = torch.stack([shift_x * width, shift_y * height], dim=-1)
    offset = -(inverse @ shift.unsqueeze(-1)).squeeze(-1) / half
    return torch.cat([linear, offset.unsqueeze(-1)], dim=-1)

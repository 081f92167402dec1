"""Reads one image/mask pair, brings both to the model size and applies the augmentation."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from seg_f1.data.folder import Sample
from seg_f1.data.images import MAX_PIXELS, UNREADABLE, open_image, read_photo, refused
from seg_f1.data.label_colors import KEY as LABEL_COLORS_KEY
from seg_f1.data.label_colors import LabelColors

INDEX_MASK_MODES = ("L", "P", "I", "I;16")
COLOUR_MASK_MODES = ("RGB", "P")


def open_mask(path, max_pixels: int = MAX_PIXELS, colors: LabelColors | None = None) -> Image.Image:
    """Open a mask lazily, rejecting anything that is not a one-channel index image (or, with
    ``colors``, a colour-coded label image), or larger than ``max_pixels``."""
    try:
        mask = open_image(path, max_pixels, what="mask")
    except UNREADABLE as error:  # a file Pillow does not know
        raise refused(path, error, "mask") from error
    if mask.mode not in (INDEX_MASK_MODES if colors is None else COLOUR_MASK_MODES):
        mask.close()
        raise ValueError(_wrong_mode(path, mask, colors))
    return mask


def _wrong_mode(path, mask: Image.Image, colors: LabelColors | None) -> str:
    found = f"{path}: mask has mode {mask.mode} ({len(mask.getbands())} channels); expected"
    if colors is not None:
        return f"{found} a colour-coded label image (RGB), as {LABEL_COLORS_KEY} is set"
    return (
        f"{found} a single-channel index mask (PNG mode L or P) with one class index per pixel; "
        f"for colour-coded labels set {LABEL_COLORS_KEY} (class: [r, g, b])"
    )


def read_mask(path, max_pixels: int = MAX_PIXELS, colors: LabelColors | None = None) -> np.ndarray:
    """An index mask: one channel, one class index per pixel, as uint8; with ``colors``, a
    colour-coded label image mapped to class indices."""
    with open_mask(path, max_pixels, colors) as mask:
        try:
            values = np.asarray(mask if colors is None else mask.convert("RGB"))
        except UNREADABLE as error:
            raise refused(path, error, "mask") from error
    if colors is not None:
        return colors.index_mask(values, path)
    if values.dtype != np.uint8 and values.size:
        _check_fits_8_bits(values, path)
    return values.astype(np.uint8)


def _check_fits_8_bits(values: np.ndarray, path) -> None:
    """A 16- or 32-bit mask cast to uint8 would wrap: 273 would train as class 17."""
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > 255:
        bad = high if high > 255 else low
        raise ValueError(
            f"{path}: mask value {bad} does not fit in 8 bits ({values.dtype} mask); class "
            "indices and ignore_index must be 0..255"
        )


MASK_SIZES = ("scaled", "same", "any")


def check_mask_size(
    image_hw: tuple[int, int], mask_hw: tuple[int, int], sample, mask_size: str = "scaled"
) -> None:
    """A mask of another shape than its image was drawn for another picture, or cropped, and
    would train misaligned. ``scaled`` accepts the same aspect at an integer factor (CelebAMask-HQ
    pairs 1024² photos with 512² masks); ``same`` only the image's own size (a dataset whose
    labels are all drawn at photo size); ``any`` resizes whatever comes."""
    image_hw, mask_hw = tuple(image_hw), tuple(mask_hw)
    if mask_size == "any" or image_hw == mask_hw:
        return
    if mask_size == "scaled" and _scaled_copy(image_hw, mask_hw):
        return
    (height, width), (mask_height, mask_width) = image_hw, mask_hw
    allowed = "its image's size" + (
        " or the same aspect at an integer factor" if mask_size == "scaled" else ""
    )
    raise ValueError(
        f"{sample.mask}: mask is {mask_width}x{mask_height} but its image {sample.image} is "
        f"{width}x{height}; a mask must have {allowed} (data.mask_size={mask_size}; set "
        "data.mask_size=any to resize every mask anyway)"
    )


def read_fitting_photo(
    sample: Sample,
    mask_hw: tuple[int, int],
    image_size: int,
    mask_size: str = "scaled",
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """The sample's photo, decoded at reduced scale where it is much larger than
    ``image_size``; its mask's size is checked against the full displayed size, which the
    reduced decode no longer shows."""
    image, full_size = read_photo(sample.image, min_side=image_size, max_pixels=max_pixels)
    check_mask_size(full_size, mask_hw, sample, mask_size)
    return image


def _scaled_copy(a: tuple[int, int], b: tuple[int, int]) -> bool:
    big, small = (a, b) if a[0] >= b[0] else (b, a)
    if big[0] % small[0] or big[1] % small[1]:
        return False
    return big[0] // small[0] == big[1] // small[1]


def check_mask_values(mask: np.ndarray, num_classes: int, ignore_index: int, path) -> None:
    """A value that is neither a class index nor ``ignore_index`` would train a phantom class."""
    bad = (mask >= num_classes) & (mask != ignore_index)
    if bad.any():
        values = sorted(int(v) for v in np.unique(mask[bad]))[:5]
        raise ValueError(
            f"{path}: mask values {values} are not class indices 0..{num_classes - 1} nor "
            f"ignore_index {ignore_index}"
        )


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Square resize; masks always nearest-neighbour so no label is ever invented."""
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    if mask.shape[:2] != (size, size):
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)
    return image, mask


class FaceParsingDataset(Dataset):
    """Yields ``{"image": uint8[3,H,W], "mask": uint8[H,W], "name": str}``.

    Images stay uint8, a quarter of float32's bytes through worker queues and pinned memory, and
    masks an eighth of int64's; the model normalises the images and widens the masks on its
    device (``SegmentationModule.on_after_batch_transfer``). A JPEG much larger
    than ``image_size`` is decoded at reduced scale (``read_photo``).

    With ``num_classes`` set, every mask read is checked, so a bad value stops training with the
    file's name even when setup-time validation was off or only sampled; so is its size against
    its image's (``mask_size``, see ``check_mask_size``). Files over ``max_pixels`` are refused
    before they are decoded.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        image_size: int,
        augment: Callable | None = None,
        num_classes: int | None = None,
        ignore_index: int = 255,
        mask_size: str = "scaled",
        max_pixels: int = MAX_PIXELS,
    ) -> None:
        self.samples = list(samples)
        self.mask_size = mask_size
        self.max_pixels = max_pixels
        self.image_size = image_size
        self.augment = augment
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def __len__(self) -> int:
        return len(self.samples)

    def _augmented(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Albumentations keeps its own generators, seeded from the OS unless told otherwise, so
        ``seed=`` would not fix the augmentations and every worker would share one stream. Each
        sample therefore reseeds them from torch's RNG, which ``seed_everything`` seeds, the
        DataLoader offsets per worker, and a checkpoint restores."""
        if hasattr(self.augment, "set_random_seed"):
            self.augment.set_random_seed(int(torch.randint(2**31 - 1, ()).item()))
        out = self.augment(image=image, mask=mask)
        if out["image"].dtype != np.uint8:
            raise TypeError(
                f"data.augment returned {out['image'].dtype} images; batches stay uint8 and the "
                "model normalises them on its device, so leave Normalize/ToFloat out of it"
            )
        return out["image"], out["mask"]

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        mask = read_mask(sample.mask, self.max_pixels, sample.colors)
        if self.num_classes is not None:
            check_mask_values(mask, self.num_classes, self.ignore_index, sample.mask)
        image = read_fitting_photo(
            sample, mask.shape[:2], self.image_size, self.mask_size, self.max_pixels
        )
        image, mask = resize_pair(image, mask, self.image_size)
        if self.augment is not None:
            image, mask = self._augmented(image, mask)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "mask": torch.from_numpy(np.ascontiguousarray(mask, dtype=np.uint8)),
            "name": sample.name,
        }

"""The plain layout every dataset ends up in: ``root/{split}/images/*`` paired by stem with
``root/{split}/masks/*.png`` index masks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Sample:
    image: Path
    mask: Path

    @property
    def name(self) -> str:
        return self.image.stem


def list_pairs(images_dir: Path, masks_dir: Path) -> list[Sample]:
    """Pair every image with the mask of the same stem; an image without a mask is an error."""
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"expected a folder at {folder}, but there is none")
    masks = {p.stem: p for p in masks_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    samples, unpaired = [], []
    for image in sorted(images_dir.iterdir()):
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if image.stem in masks:
            samples.append(Sample(image, masks[image.stem]))
        else:
            unpaired.append(image)
    if unpaired:
        shown = ", ".join(str(p) for p in unpaired[:3])
        raise FileNotFoundError(
            f"{len(unpaired)} image(s) in {images_dir} have no mask of the same name in "
            f"{masks_dir}: {shown}"
        )
    if not samples:
        raise ValueError(f"no image/mask pairs in {images_dir} (looked for {IMAGE_SUFFIXES})")
    return samples


@dataclass(frozen=True)
class FolderSource:
    """A dataset already in the plain layout, e.g. ``data=folder data.source.root=/data/faces``."""

    root: str

    @property
    def data_root(self) -> Path:
        return Path(self.root)

    def prepare(self) -> None:
        if not self.data_root.is_dir():
            raise FileNotFoundError(f"data.source.root: no such folder {self.data_root}")

    def samples(self, split: str) -> list[Sample]:
        base = self.data_root / split
        return list_pairs(base / "images", base / "masks")

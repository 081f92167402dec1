"""The plain layout every dataset ends up in: ``root/{split}/images/*`` paired by stem with
``root/{split}/masks/*`` index masks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from seg_f1.data.label_colors import LabelColors

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                  ".jp2", ".hdr")  # fmt: skip


@dataclass(frozen=True)
class Sample:
    """A photo and its label image; ``colors`` is set when the label image is colour-coded."""

    image: Path
    mask: Path
    colors: LabelColors | None = None

    @property
    def name(self) -> str:
        return self.image.stem


def image_files(folder: Path) -> list[Path]:
    """The readable image files of one folder, sorted; a missing folder is named."""
    if not folder.is_dir():
        raise FileNotFoundError(f"expected a folder at {folder}, but there is none")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def pair_by_key(images: Mapping[str, Path], masks: Mapping[str, Path], where: str) -> list[Sample]:
    """Join images and masks on a key; anything left unpaired on either side is an error."""
    lonely_images = sorted(str(images[k]) for k in images.keys() - masks.keys())
    lonely_masks = sorted(str(masks[k]) for k in masks.keys() - images.keys())
    for count, kind, other, shown in (
        (len(lonely_images), "image(s)", "mask", lonely_images[:3]),
        (len(lonely_masks), "mask(s)", "image", lonely_masks[:3]),
    ):
        if count:
            raise FileNotFoundError(
                f"{count} {kind} in {where} have no {other} of the same name: {', '.join(shown)}"
            )
    if not images:
        raise ValueError(
            f"empty split: no image/mask pairs in {where} (looked for {IMAGE_SUFFIXES})"
        )
    return [Sample(images[k], masks[k]) for k in sorted(images)]


def keyed(files: list[Path], key: Callable[[Path], str | None]) -> dict[str, Path]:
    """Files by pairing key; files whose key is None are not part of the dataset, and two files
    with one key (``face0.jpg`` and ``face0.png``) are an error, as either would be dropped."""
    out: dict[str, Path] = {}
    for path in files:
        name = key(path)
        if name is None:
            continue
        if name in out:
            raise ValueError(
                f"{out[name]} and {path} are both sample {name!r}; remove or rename one of them"
            )
        out[name] = path
    return out


def list_pairs(images_dir: Path, masks_dir: Path) -> list[Sample]:
    """Pair every image with the mask of the same stem."""
    images = keyed(image_files(images_dir), lambda p: p.stem)
    masks = keyed(image_files(masks_dir), lambda p: p.stem)
    return pair_by_key(images, masks, f"{images_dir} / {masks_dir}")


def check_root(root: str | Path, key: str = "data.root") -> Path:
    """A wrong dataset root fails at once, naming the config key that set it."""
    if root is None:
        raise ValueError(f"{key} is not set: pass {key}=/path/to/dataset")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{key}={root}: no such folder")
    return path


class RootedSource:
    """What every on-disk source shares: its files live under ``root`` (``data.root``)."""

    root: str

    @property
    def data_root(self) -> Path:
        return Path(self.root)

    def prepare(self) -> None:
        check_root(self.root)


@dataclass(frozen=True)
class FolderSource(RootedSource):
    """A dataset in the plain layout, e.g. ``data=folder data.root=/data/faces``:
    ``root/{split}/{images_dir,masks_dir}/``, paired by file stem."""

    root: str
    images_dir: str = "images"
    masks_dir: str = "masks"

    def samples(self, split: str) -> list[Sample]:
        base = check_root(self.root) / split
        for folder in (self.images_dir, self.masks_dir):
            if not (base / folder).is_dir():
                raise FileNotFoundError(self.expected_layout(f"{split}/{folder}"))
        return list_pairs(base / self.images_dir, base / self.masks_dir)

    def expected_layout(self, missing: str) -> str:
        root = Path(self.root)
        return (
            f"data.root={self.root} has no {missing}/ folder; data=folder expects:\n"
            f"  {root / '{train,val,test}' / self.images_dir}/<name>.jpg (or .png, ...)\n"
            f"  {root / '{train,val,test}' / self.masks_dir}/<name>.png"
            " (one class index per pixel, or data.label_colors for colour labels)"
        )

"""LaPa: ``{train,val,test}/images/*.jpg`` with ``labels/*.png`` index masks of the same stem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seg_f1.data.folder import Sample, check_root, image_files, keyed, pair_by_key

CLASSES = ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "u_lip",
           "inner_mouth", "l_lip", "hair")  # fmt: skip
FLIP_PAIRS = (("l_brow", "r_brow"), ("l_eye", "r_eye"))


@dataclass(frozen=True)
class LaPa:
    """``data=lapa data.root=/data/LaPa``: the release's own train/val/test split."""

    root: str

    @property
    def data_root(self) -> Path:
        return Path(self.root)

    def prepare(self) -> None:
        check_root(self.root)

    def samples(self, split: str) -> list[Sample]:
        base = check_root(self.root) / split
        images = keyed(image_files(base / "images"), lambda p: p.stem)
        masks = keyed(image_files(base / "labels"), lambda p: p.stem)
        return pair_by_key(images, masks, f"{base / 'images'} / {base / 'labels'}")

"""LaPa: ``{train,val,test}/images/*.jpg`` with ``labels/*.png`` index masks of the same stem."""

from __future__ import annotations

from dataclasses import dataclass

from seg_f1.data.folder import FolderSource

CLASSES = ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "u_lip",
           "inner_mouth", "l_lip", "hair")  # fmt: skip
FLIP_PAIRS = (("l_brow", "r_brow"), ("l_eye", "r_eye"))


@dataclass(frozen=True)
class LaPa(FolderSource):
    """``data=lapa data.root=/data/LaPa``: the release's own train/val/test split."""

    masks_dir: str = "labels"

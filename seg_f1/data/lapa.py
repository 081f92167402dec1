"""LaPa: ``{train,val,test}/images/*.jpg`` with ``labels/*.png`` index masks of the same stem."""

from __future__ import annotations

from dataclasses import dataclass

from seg_f1.data.folder import FolderSource


@dataclass(frozen=True)
class LaPa(FolderSource):
    """``data=lapa data.root=/data/LaPa``: the release's own train/val/test split."""

    masks_dir: str = "labels"

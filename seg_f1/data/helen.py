"""Helen, relabeled (LaPa's 11 classes): ``{train,test}/xxx_image.jpg`` beside ``xxx_label.png``.

The release has no validation split, so ``val_fraction`` of ``train`` is held out with a seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from seg_f1.data.folder import RootedSource, Sample, check_root, image_files, keyed, pair_by_key
from seg_f1.data.splits import seeded_split

log = logging.getLogger(__name__)


def _key(path: Path, suffix: str) -> str | None:
    return path.stem[: -len(suffix)] if path.stem.endswith(suffix) else None


@dataclass(frozen=True)
class Helen(RootedSource):
    """``data=helen data.root=/data/helen``; val is carved from train by ``split_seed``."""

    root: str
    val_fraction: float = 0.1
    split_seed: int = 0

    def _folder(self, folder: str) -> list[Sample]:
        base = check_root(self.root) / folder
        files = image_files(base)
        images = keyed(files, lambda p: _key(p, "_image"))
        masks = keyed(files, lambda p: _key(p, "_label"))
        return pair_by_key(images, masks, f"{base} (*_image.* / *_label.png)")

    def samples(self, split: str) -> list[Sample]:
        if split == "test":
            return self._folder("test")
        train = self._folder("train")
        names = seeded_split([s.name for s in train], self.val_fraction, 0.0, self.split_seed)
        if split == "train":
            log.info("Helen: %.2f of train held out as val (seed %d)", self.val_fraction,
                     self.split_seed)  # fmt: skip
        chosen = set(names[split])
        if not chosen:
            raise ValueError(f"empty split: Helen {split} from {self.root}/train is empty")
        return [s for s in train if s.name in chosen]

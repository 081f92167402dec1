"""LFW Part Labels as it is downloaded: the LFW "funneled" photos in person folders,
``lfw_funneled/<Person>/<Person>_NNNN.jpg`` (the full LFW tree; only labelled photos are
samples), colour-coded labels ``parts_lfw_funneled_gt_images/<Person>_NNNN.ppm`` (background,
skin, hair: ``data.label_colors``) and the benchmark's split lists.

Copies of the benchmark write their lists differently (the release: ``parts_train.txt`` with
``<Person> <N>`` lines; others: paths of their own tree), so a line is read for its LFW id
(``<Person>_NNNN``), never for a path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from seg_f1.data.folder import RootedSource, Sample, check_root

PHOTOS_DIR = "lfw_funneled"
LABELS_DIR = "parts_lfw_funneled_gt_images"
# the lists of each split, first found wins: this copy's, then the UMass release's names
SPLIT_LISTS = {
    "train": ("splits/train.txt", "parts_train.txt"),
    "val": ("splits/validation.txt", "parts_validation.txt"),
    "test": ("splits/test.txt", "parts_test.txt"),
}
_ID_IN_TEXT = re.compile(r"([A-Za-z][\w.'-]*?)_(\d{4})(?:\.\w+)?(?=\s|$)")
_NAME_AND_NUMBER = re.compile(r"^([A-Za-z][\w.'-]*)\s+(\d{1,4})$")


def lfw_id(line: str) -> str | None:
    """The LFW id a split-list line names (the last one on the line: the label's), or None for
    a blank line. ``Aaron_Peirsol 2`` -> ``Aaron_Peirsol_0002``."""
    text = line.strip()
    if not text:
        return None
    pair = _NAME_AND_NUMBER.match(text)
    if pair:
        return f"{pair[1]}_{int(pair[2]):04d}"
    ids = [f"{name.rsplit('/', 1)[-1]}_{number}" for name, number in _ID_IN_TEXT.findall(text)]
    if not ids:
        raise ValueError(f"no LFW id (<Person>_NNNN) in the line {text!r}")
    return ids[-1]


def read_split_list(path: Path) -> list[str]:
    """The ids of one list, in its order; a line without an id is refused naming the file."""
    ids = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            found = lfw_id(line)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        if found is not None:
            ids.append(found)
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: an id is listed twice")
    return ids


@dataclass(frozen=True)
class LfwParts(RootedSource):
    """``data=lfw_parts data.root=/data/lfw_parts``: the benchmark's own 1500/500/927 split.
    ``split_lists`` names a split's list relative to ``root`` when it is elsewhere."""

    root: str
    split_lists: Mapping[str, str] = field(default_factory=dict)

    def list_path(self, split: str) -> Path:
        base = check_root(self.root)
        if split in self.split_lists:
            path = base / self.split_lists[split]
            if not path.is_file():
                raise FileNotFoundError(f"data.source.split_lists.{split}: no file {path}")
            return path
        for name in SPLIT_LISTS[split]:
            if (base / name).is_file():
                return base / name
        tried = " or ".join(str(base / name) for name in SPLIT_LISTS[split])
        raise FileNotFoundError(
            f"no {split} list: expected {tried} (or set data.source.split_lists.{split})"
        )

    def samples(self, split: str) -> list[Sample]:
        base = check_root(self.root)
        listed = self.list_path(split)
        samples = []
        for name in read_split_list(listed):
            person = name[:-5]
            sample = Sample(
                base / PHOTOS_DIR / person / f"{name}.jpg", base / LABELS_DIR / f"{name}.ppm"
            )
            for path in (sample.image, sample.mask):
                if not path.is_file():
                    raise FileNotFoundError(f"{listed} lists {name}, but {path} does not exist")
            samples.append(sample)
        if not samples:
            raise ValueError(f"empty split: {listed} lists no photo")
        return samples

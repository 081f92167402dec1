"""CelebAMask-HQ as released: 1024² photos and one 512² binary mask per face part.

The part masks are merged once into index masks (official label order, later parts painted over
earlier ones) and cached as PNGs next to a manifest of the source files' sizes and mtimes, so a
second run reuses them and an edited, added or removed part file rebuilds just that face.
An already-merged copy (``images/`` + ``masks/``) is read as it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from rich.progress import track

from seg_f1.data.folder import Sample, check_root, image_files, keyed, pair_by_key
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES, SPLITS
from seg_f1.data.splits import check_fractions, seeded_split
from seg_f1.runs.io import fingerprint, write_atomically

log = logging.getLogger(__name__)

IMAGES_DIR = "CelebA-HQ-img"
PARTS_DIR = "CelebAMask-HQ-mask-anno"
PARTITION_FILE = "list_eval_partition.txt"  # from CelebA: "<celeba file> <0|1|2>"
MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"  # "idx orig_idx orig_file"
PARTS = CELEBAMASK_HQ_CLASSES[1:]
CACHE_VERSION = 1
_PART_FILE = re.compile(r"^(\d+)_(.+)\.png$")


def read_part(path: Path) -> np.ndarray:
    """A binary part mask as bool; some releases store them as RGB, so any channel counts."""
    try:
        with Image.open(path) as image:
            part = np.asarray(image)
    except (OSError, ValueError, SyntaxError) as error:
        raise ValueError(f"{path}: cannot read part mask ({error})") from error
    return (part > 0).any(axis=2) if part.ndim == 3 else part > 0


def merge_parts(parts: dict[str, Path]) -> np.ndarray:
    """One index mask from a face's part files; a part without a file is simply absent."""
    mask = None
    for label, name in enumerate(PARTS, start=1):
        if name not in parts:
            continue
        present = read_part(parts[name])
        if mask is None:
            mask = np.zeros(present.shape, np.uint8)
        elif present.shape != mask.shape:
            raise ValueError(
                f"{parts[name]}: part mask is {present.shape[1]}x{present.shape[0]}, the face's "
                f"other parts are {mask.shape[1]}x{mask.shape[0]}"
            )
        mask[present] = label
    return mask


def _write_merged(job: tuple[dict[str, Path], Path]) -> None:
    parts, out = job
    mask = Image.fromarray(merge_parts(parts))
    write_atomically(out, mask.save)  # unique temporary names: DDP ranks may race on a face


def scan_parts(parts_dir: Path) -> dict[str, dict[str, os.stat_result]]:
    """``{face id: {part: stat}}`` from ``{id//2000}/{id:05d}_{part}.png``, with one scandir."""
    faces: dict[str, dict[str, os.stat_result]] = {}
    for folder in sorted(p for p in parts_dir.iterdir() if p.is_dir()):
        with os.scandir(folder) as entries:
            for entry in entries:
                match = _PART_FILE.match(entry.name)
                if match is None:
                    continue
                face, part = str(int(match.group(1))), match.group(2)
                if part not in PARTS:
                    raise ValueError(
                        f"{entry.path}: {part!r} is not a CelebAMask-HQ part; expected one of "
                        f"{', '.join(PARTS)}"
                    )
                faces.setdefault(face, {})[part] = entry.stat()
    return faces


def part_path(parts_dir: Path, face: str, part: str) -> Path:
    return parts_dir / str(int(face) // 2000) / f"{int(face):05d}_{part}.png"


def read_official_split(root: Path) -> dict[str, str] | None:
    """``{hq id: split}`` through CelebA's partition file, or None when either file is missing."""
    partition_path, mapping_path = root / PARTITION_FILE, root / MAPPING_FILE
    if not (partition_path.is_file() and mapping_path.is_file()):
        return None
    partition = {}
    for line in partition_path.read_text().split("\n"):
        fields = line.split()
        if len(fields) == 2 and fields[1] in ("0", "1", "2"):
            partition[fields[0]] = SPLITS[int(fields[1])]
    split_of = {}
    for number, line in enumerate(mapping_path.read_text().split("\n"), start=1):
        fields = line.split()
        if len(fields) != 3 or not fields[0].isdigit():
            continue  # the header and blank lines
        if fields[2] not in partition:
            raise ValueError(f"{mapping_path}:{number}: {fields[2]} has no row in {partition_path}")
        split_of[str(int(fields[0]))] = partition[fields[2]]
    return split_of


@dataclass
class CelebAMaskHQ:
    """``data=celebamask_hq data.root=/data/CelebAMask-HQ``.

    ``cache_dir`` holds the merged masks (one folder per dataset root); ``val_fraction``,
    ``test_fraction`` and ``split_seed`` apply only without the official split files;
    ``num_workers`` processes merge the part masks.
    """

    root: str
    cache_dir: str
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    split_seed: int = 0
    num_workers: int = 4
    _splits: dict[str, list[Sample]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_fractions(self.val_fraction, self.test_fraction)

    @property
    def raw(self) -> bool:
        root = check_root(self.root)
        if (root / IMAGES_DIR).is_dir() and (root / PARTS_DIR).is_dir():
            return True
        if (root / "images").is_dir() and (root / "masks").is_dir():
            return False
        raise FileNotFoundError(
            f"data.root={self.root}: neither the raw CelebAMask-HQ layout ({IMAGES_DIR}/ + "
            f"{PARTS_DIR}/) nor a merged one (images/ + masks/)"
        )

    @property
    def merged_dir(self) -> Path:
        """The cache folder of this root: two roots never share merged masks."""
        key = hashlib.sha1(str(Path(self.root).resolve()).encode()).hexdigest()[:10]
        return Path(self.cache_dir) / f"celebamask_hq-{key}"

    @property
    def data_root(self) -> Path:
        return self.merged_dir if self.raw else Path(self.root)

    def prepare(self) -> None:
        if self.raw:
            self.build_cache()

    def build_cache(self) -> int:
        """Merge every face whose part files changed since the manifest; returns how many."""
        parts_dir = Path(self.root) / PARTS_DIR
        faces = scan_parts(parts_dir)
        masks_dir = self.merged_dir / "masks"
        masks_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = self.merged_dir / "manifest.json"
        known = {}
        if manifest_path.is_file():
            manifest = json.loads(manifest_path.read_text())
            if manifest.get("version") == CACHE_VERSION and manifest.get("classes") == list(
                CELEBAMASK_HQ_CLASSES
            ):
                known = manifest["faces"]
        prints = {face: fingerprint(parts) for face, parts in faces.items()}
        for face in known.keys() - prints.keys():  # a face whose part files are all gone
            (masks_dir / f"{face}.png").unlink(missing_ok=True)
        todo = [
            face
            for face, digest in prints.items()
            if known.get(face) != digest or not (masks_dir / f"{face}.png").is_file()
        ]
        jobs = [
            ({p: part_path(parts_dir, face, p) for p in faces[face]}, masks_dir / f"{face}.png")
            for face in sorted(todo, key=int)
        ]
        self._run(jobs)
        manifest = {"version": CACHE_VERSION, "classes": list(CELEBAMASK_HQ_CLASSES),
                    "source": self.root, "faces": prints}  # fmt: skip
        _write_json(manifest_path, manifest)
        log.info(
            "CelebAMask-HQ: merged %d face masks, reused %d, in %s",
            len(todo), len(prints) - len(todo), masks_dir,
        )  # fmt: skip
        return len(todo)

    def _run(self, jobs: list) -> None:
        label = "Merging CelebAMask-HQ part masks"
        if self.num_workers <= 1 or len(jobs) <= 1:
            for job in track(jobs, description=label, disable=not jobs):
                _write_merged(job)
            return
        with ProcessPoolExecutor(self.num_workers) as pool:
            chunk = max(1, len(jobs) // (self.num_workers * 8))
            done = pool.map(_write_merged, jobs, chunksize=chunk)
            for _ in track(done, total=len(jobs), description=label):
                pass

    def samples(self, split: str) -> list[Sample]:
        if self._splits is None:
            self._splits = self._split_samples()
        if not self._splits[split]:
            raise ValueError(
                f"empty split: the CelebAMask-HQ {split} split of {self.root} is empty"
            )
        return self._splits[split]

    def _pairs(self) -> list[Sample]:
        root = Path(self.root)
        if not self.raw:
            images = keyed(image_files(root / "images"), lambda p: p.stem)
            masks = keyed(image_files(root / "masks"), lambda p: p.stem)
            return pair_by_key(images, masks, f"{root / 'images'} / {root / 'masks'}")
        images = keyed(image_files(root / IMAGES_DIR), lambda p: str(int(p.stem)))
        faces = scan_parts(root / PARTS_DIR)
        masks = {face: self.merged_dir / "masks" / f"{face}.png" for face in faces}
        return pair_by_key(images, masks, f"{root / IMAGES_DIR} / {root / PARTS_DIR}")

    def _split_samples(self) -> dict[str, list[Sample]]:
        by_id = {str(int(s.image.stem)) if s.image.stem.isdigit() else s.image.stem: s
                 for s in self._pairs()}  # fmt: skip
        official = read_official_split(Path(self.root))
        if official is None:
            log.info(
                "CelebAMask-HQ split: seeded (seed %d, val %.2f, test %.2f); %s or %s not in %s",
                self.split_seed, self.val_fraction, self.test_fraction, PARTITION_FILE,
                MAPPING_FILE, self.root,
            )  # fmt: skip
            ids = seeded_split(list(by_id), self.val_fraction, self.test_fraction, self.split_seed)
        else:
            missing = sorted(by_id.keys() - official.keys())
            if missing:
                raise ValueError(
                    f"{Path(self.root) / MAPPING_FILE}: no row for image id(s) {missing[:5]}"
                )
            log.info("CelebAMask-HQ split: official (%s + %s)", PARTITION_FILE, MAPPING_FILE)
            ids = {split: [i for i in by_id if official[i] == split] for split in SPLITS}
        return {split: [by_id[i] for i in sorted(ids[split], key=_id_order)] for split in SPLITS}


def _id_order(face: str) -> tuple[int, str]:
    return (int(face), "") if face.isdigit() else (0, face)


def _write_json(path: Path, data: dict) -> None:
    """Written atomically: a killed build never leaves a half manifest that looks complete."""
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(data)))

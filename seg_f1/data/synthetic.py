"""The embedded synthetic face-parsing set as a dataset source: generated once (faces drawn by
``seg_f1.data.drawing``) into a cache folder keyed by every parameter that changes the pixels, and
written through a staging folder so that a half-written copy is never used."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image
from rich.progress import track

from seg_f1.data.drawing import GENERATOR_VERSION, make_sample
from seg_f1.data.folder import Sample, list_pairs
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES
from seg_f1.runs.io import raise_if_unwritable, staging_directory

log = logging.getLogger(__name__)


def _staging_prefix() -> str:
    """``.synthetic-<host>-<pid>-``: who writes a staging folder, so a dead writer's is found."""
    return f".synthetic-{socket.gethostname()}-{os.getpid()}-"


_STAGING = re.compile(r"\.synthetic-(?P<host>.+)-(?P<pid>\d+)-[^-]+")
_UNOWNED_STALE_AFTER_S = 24 * 3600  # staging folders named before they carried their writer


def remove_stale_staging(folder: Path) -> None:
    """Delete the staging folders that a killed generator left in ``folder``: those of a dead
    process on this host, and unnamed ones a day old. A live generator's folder is kept, and so
    is another host's (its processes cannot be seen from here)."""
    for staging in folder.glob(".synthetic-*"):
        owner = _STAGING.fullmatch(staging.name)
        if owner is None:
            stale = time.time() - _mtime(staging) > _UNOWNED_STALE_AFTER_S
        else:
            stale = owner["host"] == socket.gethostname() and not _alive(int(owner["pid"]))
        if stale:
            log.info("removing %s, left by a generator that was killed", staging)
            shutil.rmtree(staging, ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # removed meanwhile by another run
        return time.time()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@dataclass(frozen=True)
class SyntheticFaces:
    """The embedded dataset: generated once into ``root`` in the plain images/ + masks/ layout."""

    root: str
    image_size: int = 128
    num_train: int = 600
    num_val: int = 150
    num_test: int = 150
    seed: int = 0

    def counts(self) -> dict[str, int]:
        return {"train": self.num_train, "val": self.num_val, "test": self.num_test}

    @property
    def directory(self) -> Path:
        """The cache folder, keyed by every parameter that changes the pixels."""
        params = {**asdict(self), "version": GENERATOR_VERSION}
        del params["root"]
        digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
        return Path(self.root) / f"synthetic-{self.image_size}px-{digest}"

    @property
    def data_root(self) -> Path:
        return self.directory

    def samples(self, split: str) -> list[Sample]:
        base = self.directory / split
        return list_pairs(base / "images", base / "masks")

    def prepare(self) -> Path:
        """Generate the set unless a finished copy exists; a half-written copy is never used."""
        target = self.directory
        if (target / "manifest.json").exists():
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise_if_unwritable(target, error)
            raise
        remove_stale_staging(target.parent)
        staging = staging_directory(target.parent, _staging_prefix())
        try:
            self._write(staging)
            os.replace(staging, target)
        except OSError as error:
            if not (target / "manifest.json").exists():  # another process did not win the race
                raise_if_unwritable(target, error)  # a full disk: one line naming the folder
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _write(self, out: Path) -> None:
        for split in self.counts():
            (out / split / "images").mkdir(parents=True)
            (out / split / "masks").mkdir(parents=True)
        items = [(split, i) for split, count in self.counts().items() for i in range(count)]
        what = f"generating synthetic faces ({self.image_size}px, once)"
        for split, index in track(items, description=what, transient=True):
            image, mask = make_sample(self.seed, split, index, self.image_size)
            Image.fromarray(image).save(out / split / "images" / f"{index:05d}.png")
            Image.fromarray(mask).save(out / split / "masks" / f"{index:05d}.png")
        manifest = {
            **asdict(self),
            "version": GENERATOR_VERSION,
            "classes": list(CELEBAMASK_HQ_CLASSES),
        }
        del manifest["root"]
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2))

"""The embedded synthetic set: deterministic, imbalanced like CelebAMask-HQ, sided correctly."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_env
from PIL import Image

from seg_f1.data.drawing import LABEL, make_sample
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.data.labels import CELEBAMASK_HQ_FLIP_PAIRS as FLIP_PAIRS
from seg_f1.data.synthetic import SyntheticFaces
from seg_f1.data.transforms import PairedHorizontalFlip

NUM_SAMPLES = 300
SIZE = 64


@pytest.fixture(scope="module")
def masks() -> np.ndarray:
    return np.stack([make_sample(0, "train", i, SIZE)[1] for i in range(NUM_SAMPLES)])


def test_same_seed_gives_byte_identical_files(tmp_path):
    first = SyntheticFaces(str(tmp_path / "a"), image_size=32, num_train=3, num_val=2, num_test=2)
    second = SyntheticFaces(str(tmp_path / "b"), image_size=32, num_train=3, num_val=2, num_test=2)
    first.prepare(), second.prepare()
    files = sorted(p.relative_to(first.directory) for p in first.directory.rglob("*.png"))
    assert len(files) == 2 * (3 + 2 + 2)
    for name in files:
        assert (first.directory / name).read_bytes() == (second.directory / name).read_bytes()


def test_another_seed_gives_other_faces():
    assert not np.array_equal(make_sample(0, "train", 0, 32)[1], make_sample(1, "train", 0, 32)[1])


def test_prepare_writes_plain_layout_once(tmp_path):
    source = SyntheticFaces(str(tmp_path), image_size=32, num_train=2, num_val=1, num_test=1)
    root = source.prepare()
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["classes"] == list(CLASSES)
    mask = Image.open(root / "train" / "masks" / "00000.png")
    assert mask.mode == "L" and mask.size == (32, 32)
    assert [s.name for s in source.samples("val")] == ["00000"]
    stamp = (root / "manifest.json").stat().st_mtime_ns
    source.prepare()  # reused, not rewritten
    assert (root / "manifest.json").stat().st_mtime_ns == stamp


def test_pixel_shares_follow_celebamask_hq(masks):
    share = np.bincount(masks.ravel(), minlength=len(CLASSES)) / masks.size
    for part in ("l_eye", "r_eye", "l_brow", "r_brow"):
        assert 0 < share[LABEL[part]] < 0.01, part
    for part in ("hair", "skin"):
        assert 0.2 < share[LABEL[part]] < 0.4, part


def test_accessories_appear_in_a_few_images(masks):
    present = np.array([[np.any(m == k) for k in range(len(CLASSES))] for m in masks]).mean(0)
    for part in ("hat", "eye_g", "neck_l"):
        assert 0.03 <= present[LABEL[part]] <= 0.12, (part, present[LABEL[part]])
    assert 0.15 <= present[LABEL["ear_r"]] <= 0.4


def test_subjects_left_eye_is_on_the_images_right(masks):
    columns = np.arange(SIZE)[None, None, :]
    left = (masks == LABEL["l_eye"]) * columns
    right = (masks == LABEL["r_eye"]) * columns
    assert (
        left.sum() / (masks == LABEL["l_eye"]).sum() > right.sum() / (masks == LABEL["r_eye"]).sum()
    )


def test_flip_swaps_left_and_right_labels():
    image, mask = make_sample(0, "train", 0, SIZE)
    flip = PairedHorizontalFlip(FLIP_PAIRS, CLASSES, p=1.0)
    out = flip(image=image, mask=mask)
    mirrored = mask[:, ::-1]
    assert np.array_equal(out["image"], image[:, ::-1])
    assert np.array_equal(out["mask"] == LABEL["l_eye"], mirrored == LABEL["r_eye"])
    assert np.array_equal(out["mask"] == LABEL["r_eye"], mirrored == LABEL["l_eye"])
    assert np.array_equal(out["mask"] == LABEL["hair"], mirrored == LABEL["hair"])
    assert (out["mask"] == LABEL["l_eye"]).any()


def test_flip_pair_naming_no_class_is_rejected():
    with pytest.raises(ValueError, match="'l_eyes'"):
        PairedHorizontalFlip([("l_eyes", "r_eye")], CLASSES)


GENERATE = "from seg_f1.data.synthetic import SyntheticFaces; SyntheticFaces(root={root!r}, image_size=32, num_train=100000, num_val=1, num_test=1, seed={seed}).prepare()"  # noqa: E501


def start_generator(root, seed: int) -> tuple[subprocess.Popen, Path]:
    """A generator busy writing its staging folder, and that folder."""
    before = set(root.glob(".synthetic-*"))
    process = subprocess.Popen([sys.executable, "-c", GENERATE.format(root=str(root), seed=seed)],
                               cwd=ROOT, env=run_env())  # fmt: skip
    deadline = time.time() + 60
    while not set(root.glob(".synthetic-*")) - before:
        assert process.poll() is None and time.time() < deadline, "no staging folder appeared"
        time.sleep(0.05)
    (staging,) = set(root.glob(".synthetic-*")) - before
    return process, staging


def test_a_killed_generators_staging_folder_is_cleaned_and_a_live_ones_kept(tmp_path):
    killed, stale = start_generator(tmp_path, seed=1)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    live, busy = start_generator(tmp_path, seed=2)
    try:
        SyntheticFaces(str(tmp_path), image_size=32, num_train=2, num_val=1, num_test=1).prepare()
        assert not stale.exists()
        assert busy.is_dir() and live.poll() is None
    finally:
        live.send_signal(signal.SIGKILL)
        live.wait()


def test_the_cache_reads_like_any_folder_of_the_users(tmp_path):
    """Folders and files get the umask's permissions: a teammate on a shared machine can read
    the cache (``mkdtemp`` would have left it owner-only, 0700)."""
    old = os.umask(0o022)
    try:
        root = SyntheticFaces(str(tmp_path), image_size=32, num_train=1, num_val=1, num_test=1)
        root = root.prepare()
    finally:
        os.umask(old)
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "train" / "masks").stat().st_mode) == 0o755
    assert stat.S_IMODE((root / "manifest.json").stat().st_mode) == 0o644

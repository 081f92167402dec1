"""Each adapter on tiny fixtures written in its dataset's exact on-disk layout."""

from __future__ import annotations

import logging
import os

import hydra
import numpy as np
import pytest
from PIL import Image

from seg_f1.data.celebamask_hq import MAPPING_FILE, PARTITION_FILE, CelebAMaskHQ, merge_parts
from seg_f1.data.dataset import FaceParsingDataset
from seg_f1.data.folder import FolderSource
from seg_f1.data.helen import Helen
from seg_f1.data.lapa import LaPa


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def photo(size, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)


def quadrant_mask(size, labels=(0, 1, 2, 3)):
    """Four quadrants with the given labels: easy to recognise at any nearest-neighbour size."""
    mask = np.zeros((size, size), np.uint8)
    h = size // 2
    mask[:h, :h], mask[:h, h:], mask[h:, :h], mask[h:, h:] = labels
    return mask


def check_item(samples, size, labels):
    """Mask resized nearest-neighbour to ``size`` keeps its quadrants; image is RGB ``size``²."""
    item = FaceParsingDataset(samples, size)[0]
    assert item["image"].shape == (3, size, size)
    np.testing.assert_array_equal(item["mask"].numpy(), quadrant_mask(size, labels))


# ---------------------------------------------------------------- CelebAMask-HQ (raw)
def part(size, rows, cols, value=255):
    m = np.zeros((size, size), np.uint8)
    m[rows, cols] = value
    return m


def write_celeba_raw(root, faces=(0, 1, 2, 2001), image_size=32, mask_size=16):
    """Face 0: skin everywhere, nose (label 2) in rows 4:8, hair (13) in rows 6:12 painted over
    the nose, and no l_eye file; the others: skin only. Images are twice the mask size."""
    s = mask_size
    for face in faces:
        save(root / "CelebA-HQ-img" / f"{face}.jpg", photo(image_size, face))
        folder = root / "CelebAMask-HQ-mask-anno" / str(face // 2000)
        save(folder / f"{face:05d}_skin.png", part(s, slice(None), slice(None)))
    folder = root / "CelebAMask-HQ-mask-anno" / "0"
    save(folder / "00000_nose.png", part(s, slice(4, 8), slice(None), value=128))
    hair = np.zeros((s, s, 3), np.uint8)
    hair[6:12, :, 1] = 255  # an RGB part file: any channel > 0 counts
    save(folder / "00000_hair.png", hair)


def expected_face0(s=16):
    mask = np.ones((s, s), np.uint8)
    mask[4:8] = 2
    mask[6:12] = 13
    return mask


def test_parts_merge_in_official_order_later_part_wins(tmp_path):
    write_celeba_raw(tmp_path)
    folder = tmp_path / "CelebAMask-HQ-mask-anno" / "0"
    names = ("skin", "nose", "hair")
    merged = merge_parts({n: folder / f"00000_{n}.png" for n in names})
    np.testing.assert_array_equal(merged, expected_face0())
    assert 4 not in merged  # l_eye has no file: no pixel gets its label


def test_celeba_raw_build_cache_and_load(tmp_path, caplog):
    root = tmp_path / "CelebAMask-HQ"
    write_celeba_raw(root)
    source = CelebAMaskHQ(str(root), str(tmp_path / "cache"), 0.25, 0.25, 0, num_workers=2)
    with caplog.at_level(logging.INFO):
        source.prepare()
        samples = {split: source.samples(split) for split in ("train", "val", "test")}
    assert "split: seeded" in caplog.text
    assert sorted(s.name for ss in samples.values() for s in ss) == ["0", "1", "2", "2001"]
    assert [len(samples[k]) for k in ("train", "val", "test")] == [2, 1, 1]
    assert (source.merged_dir / "manifest.json").is_file()
    merged = np.asarray(Image.open(source.merged_dir / "masks" / "0.png"))
    np.testing.assert_array_equal(merged, expected_face0())
    by_name = {s.name: s for ss in samples.values() for s in ss}
    item = FaceParsingDataset([by_name["0"]], 32)[0]  # image 32², mask 16²
    assert item["image"].shape == (3, 32, 32)
    np.testing.assert_array_equal(item["mask"].numpy(), expected_face0().repeat(2, 0).repeat(2, 1))


def test_celeba_cache_is_reused_then_invalidated(tmp_path):
    root = tmp_path / "raw"
    write_celeba_raw(root)
    source = CelebAMaskHQ(str(root), str(tmp_path / "cache"), num_workers=1)
    assert source.build_cache() == 4
    assert source.build_cache() == 0  # nothing changed: every mask reused
    nose = root / "CelebAMask-HQ-mask-anno" / "0" / "00000_nose.png"
    save(nose, part(16, slice(0, 2), slice(None)))
    stat = nose.stat()
    os.utime(nose, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert source.build_cache() == 1  # only the edited face
    merged = np.asarray(Image.open(source.merged_dir / "masks" / "0.png"))
    assert (merged[0:2] == 2).all() and not (merged[4:6] == 2).any()
    (root / "CelebAMask-HQ-mask-anno" / "0" / "00000_hair.png").unlink()
    assert source.build_cache() == 1  # a removed part file invalidates its face too
    assert 13 not in np.asarray(Image.open(source.merged_dir / "masks" / "0.png"))


def test_celeba_official_split_is_honoured(tmp_path, caplog):
    root = tmp_path / "raw"
    write_celeba_raw(root)
    (root / MAPPING_FILE).write_text(
        "idx         orig_idx    orig_file\n"
        "0           119613      119614.jpg\n"
        "1           99094       099095.jpg\n"
        "2           200121      200122.jpg\n"
        "2001        81059       081060.jpg\n"
    )
    (root / PARTITION_FILE).write_text("081060.jpg 0\n099095.jpg 2\n119614.jpg 1\n200122.jpg 0\n")
    source = CelebAMaskHQ(str(root), str(tmp_path / "cache"), num_workers=1)
    with caplog.at_level(logging.INFO):
        source.prepare()
        names = {split: [s.name for s in source.samples(split)] for split in ("train", "val")}
    assert "split: official" in caplog.text
    assert names == {"train": ["2", "2001"], "val": ["0"]}
    assert [s.name for s in source.samples("test")] == ["1"]


def test_celeba_merged_layout(tmp_path):
    for stem in ("10", "11", "12", "13"):
        save(tmp_path / "images" / f"{stem}.jpg", photo(32))
        save(tmp_path / "masks" / f"{stem}.png", quadrant_mask(16, (0, 1, 13, 18)))
    source = CelebAMaskHQ(str(tmp_path), str(tmp_path / "cache"), 0.25, 0.25)
    source.prepare()
    assert source.data_root == tmp_path and not (tmp_path / "cache").exists()
    check_item(source.samples("train"), 32, (0, 1, 13, 18))
    assert len(source.samples("train")) + len(source.samples("val")) == 3


def test_celeba_datamodule_from_config(compose_cfg, tmp_path):
    root = tmp_path / "CelebAMask-HQ"
    write_celeba_raw(root, faces=(0, 1, 2, 3, 4, 5))
    cfg = compose_cfg(
        "data=celebamask_hq", f"data.root={root}", "data.image_size=32", "data.num_workers=0",
        "data.persistent_workers=false", "data.source.num_workers=1", "data.batch_size=2",
        tiny=False,
    )  # fmt: skip
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert datamodule.num_classes == 19
    batch = next(iter(datamodule.val_dataloader()))
    assert batch["image"].shape[1:] == (3, 32, 32) and batch["mask"].shape[1:] == (32, 32)


# ---------------------------------------------------------------- LaPa, Helen, folder
def test_lapa_pairs_images_and_labels_of_other_resolution(tmp_path):
    for split in ("train", "val", "test"):
        for stem in ("100032540_1", "10405146_1"):
            save(tmp_path / split / "images" / f"{stem}.jpg", photo(48))
            save(tmp_path / split / "labels" / f"{stem}.png", quadrant_mask(24, (0, 4, 5, 10)))
    source = LaPa(str(tmp_path))
    assert [s.name for s in source.samples("val")] == ["100032540_1", "10405146_1"]
    check_item(source.samples("test"), 24, (0, 4, 5, 10))
    check_item(source.samples("train"), 48, (0, 4, 5, 10))


def test_helen_pairs_by_suffix_and_holds_out_val(tmp_path):
    for split, count in (("train", 10), ("test", 2)):
        for index in range(count):
            save(tmp_path / split / f"{index:03d}_image.jpg", photo(40))
            save(tmp_path / split / f"{index:03d}_label.png", quadrant_mask(20, (1, 2, 3, 8)))
    source = Helen(str(tmp_path), val_fraction=0.2, split_seed=3)
    train, val = source.samples("train"), source.samples("val")
    assert len(train) == 8 and len(val) == 2 and not {s.name for s in train} & {s.name for s in val}
    assert all(s.mask.name == s.image.name.replace("_image.jpg", "_label.png") for s in train)
    assert [s.name for s in source.samples("test")] == ["000_image", "001_image"]
    assert val == Helen(str(tmp_path), val_fraction=0.2, split_seed=3).samples("val")
    check_item(val, 40, (1, 2, 3, 8))


@pytest.mark.parametrize("suffix", [".bmp", ".tif", ".webp"])
def test_folder_reads_other_formats_and_resizes_masks(tmp_path, suffix):
    save(tmp_path / "train" / "images" / f"a{suffix}", photo(20))
    save(tmp_path / "train" / "masks" / "a.png", quadrant_mask(40, (0, 3, 6, 9)))
    check_item(FolderSource(str(tmp_path)).samples("train"), 20, (0, 3, 6, 9))


@pytest.mark.slow
def test_helen_trains_with_strong_augmentation(compose_cfg, tmp_path):
    """A whole run on a real-layout fixture: the head takes its 11 classes from data.classes."""
    import torch

    from seg_f1.training import train

    root = tmp_path / "helen"
    for split, count in (("train", 6), ("test", 2)):
        for index in range(count):
            save(root / split / f"{index:03d}_image.jpg", photo(48, index))
            save(root / split / f"{index:03d}_label.png", quadrant_mask(24, (0, 1, 4, 10)))
    cfg = compose_cfg(
        "data=helen", f"data.root={root}", "data/augment=strong", "data.source.val_fraction=0.34",
        "data.image_size=32", "data.batch_size=2", "data.eval_batch_size=2", "data.num_workers=0",
        "data.persistent_workers=false", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
        "~callbacks.progress_bar", "trainer.log_every_n_steps=1",
        tiny=False,
    )  # fmt: skip
    assert 0.0 <= train(cfg) <= 1.0
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["class_names"][8] == "inner_mouth" and len(checkpoint["class_names"]) == 11


def test_folder_reads_a_format_only_opencv_reads(tmp_path):
    import cv2

    bgr = np.zeros((20, 20, 3), np.float32)
    bgr[..., 2] = 0.5  # red at half intensity, in OpenCV's channel order
    (tmp_path / "train" / "images").mkdir(parents=True)
    assert cv2.imwrite(str(tmp_path / "train" / "images" / "a.hdr"), bgr)  # Radiance: not Pillow
    save(tmp_path / "train" / "masks" / "a.png", quadrant_mask(10, (0, 3, 6, 9)))
    samples = FolderSource(str(tmp_path)).samples("train")
    check_item(samples, 20, (0, 3, 6, 9))
    image = FaceParsingDataset(samples, 20)[0]["image"]
    assert image[:, 5, 5].tolist() == [128.0, 0.0, 0.0]

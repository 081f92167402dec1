"""Every bad input named in the data issue stops setup with the file and the problem, or is
skipped and counted; and dataset_stats against hand-counted numbers."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest
from PIL import Image

from seg_f1.data import FaceParsingDataModule, FolderSource
from seg_f1.data.celebamask_hq import CelebAMaskHQ
from seg_f1.data.dataset import FaceParsingDataset
from seg_f1.data.stats import dataset_stats
from seg_f1.dataset_stats import write_json

CLASSES = ["background", "skin", "hair"]


def write_folder(root, stems=("a", "b"), splits=("train", "val", "test"), size=8):
    for split in splits:
        for stem in stems:
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            (root / split / "masks").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(
                root / split / "images" / f"{stem}.jpg"
            )
            Image.fromarray(np.ones((size, size), np.uint8)).save(
                root / split / "masks" / f"{stem}.png"
            )


def datamodule(root, **kwargs):
    return FaceParsingDataModule(
        FolderSource(str(root)), CLASSES, root=str(root), image_size=8, num_workers=0, **kwargs
    )


def setup_error(root, **kwargs) -> str:
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        datamodule(root, **kwargs).setup("fit")
    return str(info.value)


def test_corrupt_image_is_named(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "val" / "images" / "b.jpg").write_bytes(b"not a jpeg at all")
    message = setup_error(tmp_path)
    assert re.search(r"val/images/b\.jpg: cannot read image", message)


def test_truncated_image_is_caught_by_full_validation(tmp_path):
    write_folder(tmp_path, size=64)
    path = tmp_path / "train" / "images" / "a.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:400])  # the header survives, the pixels do not
    assert "train/images/a.jpg: cannot read image" in setup_error(tmp_path, validate="full")


def test_mask_value_out_of_range_is_named(tmp_path):
    write_folder(tmp_path)
    mask = np.ones((8, 8), np.uint8)
    mask[0, 0], mask[0, 1] = 7, 255  # 7 is no class; 255 is ignore_index and fine
    Image.fromarray(mask).save(tmp_path / "test" / "masks" / "a.png")
    message = setup_error(tmp_path)
    assert "test/masks/a.png: mask values [7] are not class indices 0..2" in message


def test_bad_value_still_stops_training_with_validation_off(tmp_path):
    write_folder(tmp_path)
    Image.fromarray(np.full((8, 8), 9, np.uint8)).save(tmp_path / "train" / "masks" / "b.png")
    module = datamodule(tmp_path, validate="off")
    module.setup("fit")  # nothing checked at setup...
    with pytest.raises(ValueError, match=r"train/masks/b\.png: mask values \[9\]"):
        [module.datasets["train"][i] for i in range(2)]  # ...but the read itself refuses


@pytest.mark.parametrize("missing", ["images", "masks"])
def test_unpaired_files_are_named(tmp_path, missing):
    write_folder(tmp_path)
    (tmp_path / "train" / missing / ("b.jpg" if missing == "images" else "b.png")).unlink()
    message = setup_error(tmp_path)
    kind = "mask(s)" if missing == "images" else "image(s)"
    assert f"1 {kind}" in message and "train/" in message and "b." in message


def test_empty_split(tmp_path):
    write_folder(tmp_path, splits=("train", "test"))
    (tmp_path / "val" / "images").mkdir(parents=True)
    (tmp_path / "val" / "masks").mkdir(parents=True)
    assert "empty split" in setup_error(tmp_path) and "val/images" in setup_error(tmp_path)


def test_wrong_root_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"data.root={tmp_path}/nope: no such folder"):
        datamodule(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="neither the raw CelebAMask-HQ layout"):
        CelebAMaskHQ(str(tmp_path), str(tmp_path / "cache")).prepare()


def test_rgb_mask_is_rejected(tmp_path):
    write_folder(tmp_path)
    Image.fromarray(np.ones((8, 8, 3), np.uint8)).save(tmp_path / "train" / "masks" / "a.png")
    assert "train/masks/a.png: mask has mode RGB" in setup_error(tmp_path)


def test_celeba_image_without_part_masks_is_named(tmp_path):
    (tmp_path / "CelebA-HQ-img").mkdir()
    (tmp_path / "CelebAMask-HQ-mask-anno" / "0").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "CelebA-HQ-img" / "5.jpg")
    with pytest.raises(FileNotFoundError, match=r"1 image\(s\) .* no mask .*5\.jpg"):
        CelebAMaskHQ(str(tmp_path), str(tmp_path / "cache")).samples("train")


def test_skip_logs_each_file_and_the_count(tmp_path, caplog):
    write_folder(tmp_path, stems=("a", "b", "c"))
    (tmp_path / "train" / "images" / "a.jpg").write_bytes(b"junk")
    Image.fromarray(np.full((8, 8), 3, np.uint8)).save(tmp_path / "train" / "masks" / "c.png")
    module = datamodule(tmp_path, on_bad_sample="skip")
    with caplog.at_level(logging.WARNING):
        module.setup("fit")
    assert [s.name for s in module.datasets["train"].samples] == ["b"]
    assert "skipping train sample a" in caplog.text and "skipping train sample c" in caplog.text
    assert "skipped 2 of 3 train samples" in caplog.text
    assert [path.name for path in module.train_mask_paths()] == ["b.png"]  # class weights too


def test_bad_options_are_named(tmp_path):
    write_folder(tmp_path)
    with pytest.raises(ValueError, match="data.validate='some'"):
        datamodule(tmp_path, validate="some")
    with pytest.raises(ValueError, match="data.on_bad_sample='ignore'"):
        datamodule(tmp_path, on_bad_sample="ignore")


def test_dataset_stats_against_hand_counts(tmp_path):
    """Train: a (4x4) = 12 skin + 4 hair; b (4x2) = 6 skin + 2 background; c has an RGB mask."""
    write_folder(tmp_path, stems=("a",), splits=("val", "test"))
    train = tmp_path / "train"
    (train / "images").mkdir(parents=True)
    (train / "masks").mkdir(parents=True)
    a = np.ones((4, 4), np.uint8)
    a[0] = 2
    b = np.ones((2, 4), np.uint8)
    b[0, :2] = 0
    b[1, 3] = 255  # ignored: counts nowhere
    for stem, mask, size in (("a", a, (8, 8)), ("b", b, (8, 4))):
        Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(
            train / "images" / f"{stem}.png"
        )
        Image.fromarray(mask).save(train / "masks" / f"{stem}.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(train / "images" / "c.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(train / "masks" / "c.png")

    report = dataset_stats(datamodule(tmp_path), splits=("train",))["splits"]["train"]
    assert report["images"] == 2
    skin, hair, background = (report["classes"][n] for n in ("skin", "hair", "background"))
    assert (background["pixels"], skin["pixels"], hair["pixels"]) == (2, 17, 4)
    assert skin["pixel_frequency"] == pytest.approx(17 / 23)
    assert hair["image_share"] == 0.5 and skin["image_share"] == 1.0
    assert hair["mean_pixels_when_present"] == 4.0 and skin["mean_pixels_when_present"] == 8.5
    assert hair["mean_area_when_present"] == pytest.approx(4 / 16)
    assert background["mean_area_when_present"] == pytest.approx(2 / 7)
    assert report["image_sizes"] == {"8x4": 1, "8x8": 1}
    assert report["mask_sizes"] == {"4x2": 1, "4x4": 1}
    assert len(report["rejected"]) == 1 and report["rejected"][0]["name"] == "c"
    assert "mode RGB" in report["rejected"][0]["reason"]
    write_json(tmp_path / "stats.json", {"train": report})
    assert json.loads((tmp_path / "stats.json").read_text())["train"]["images"] == 2


def test_read_errors_inside_the_dataset_name_the_file(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "train" / "images" / "a.jpg").write_bytes(b"junk")
    dataset = FaceParsingDataset(FolderSource(str(tmp_path)).samples("train"), 8)
    with pytest.raises(ValueError, match=r"train/images/a\.jpg: cannot read image"):
        dataset[0]


@pytest.mark.slow
def test_dataset_stats_cli_prints_and_writes_json(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT, run_env

    write_folder(tmp_path / "faces")
    out = tmp_path / "stats.json"
    command = [
        sys.executable, "-m", "seg_f1.dataset_stats", "data=folder",
        f"data.root={tmp_path / 'faces'}", "data.classes=[background,skin,hair]",
        "data.flip_pairs=[]", f"+stats_path={out}", f"hydra.run.dir={tmp_path / 'run'}",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=run_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["splits"]["val"]["classes"]["skin"]["pixels"] == 2 * 64
    assert "train: 2 images, 0 rejected" in result.stdout and "wrote" in result.stdout
    default = subprocess.run([c for c in command if not c.startswith("+stats_path")], cwd=ROOT,
                             env=run_env(), capture_output=True, text=True)  # fmt: skip
    assert default.returncode == 0, default.stderr
    assert json.loads((tmp_path / "run" / "dataset_stats.json").read_text()) == report
    assert not list((tmp_path / "faces").rglob("*.json"))  # the user's dataset is only read


def save_pair(root, split, stem, image_size, mask, suffix=".jpg"):
    """``image_size`` is (width, height), as Pillow writes it."""
    width, height = image_size
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(
        root / split / "images" / f"{stem}{suffix}"
    )
    Image.fromarray(mask).save(root / split / "masks" / f"{stem}.png")


@pytest.mark.parametrize("validate", ["sample", "full"])
def test_a_mask_of_another_size_than_its_image_is_refused_naming_both(tmp_path, validate):
    write_folder(tmp_path)
    save_pair(tmp_path, "train", "a", (8, 8), np.ones((6, 6), np.uint8))
    message = setup_error(tmp_path, validate=validate)
    assert "train/masks/a.png: mask is 6x6 but its image" in message
    assert "train/images/a.jpg is 8x8" in message and "data.mask_size=any" in message


def test_a_mismatched_mask_is_refused_at_read_time_with_validation_off(tmp_path):
    write_folder(tmp_path)
    save_pair(tmp_path, "train", "b", (8, 8), np.ones((8, 4), np.uint8))  # 4 wide, 8 high
    module = datamodule(tmp_path, validate="off")
    module.setup("fit")
    with pytest.raises(ValueError, match=r"train/masks/b\.png: mask is 4x8 but its image"):
        [module.datasets["train"][i] for i in range(2)]


def test_same_aspect_at_an_integer_factor_is_allowed_and_other_pairs_by_opt_in(tmp_path):
    write_folder(tmp_path)
    save_pair(tmp_path, "train", "a", (16, 12), np.ones((6, 8), np.uint8))  # CelebAMask-HQ-like
    module = datamodule(tmp_path, validate="full")
    module.setup("fit")
    assert module.datasets["train"][0]["mask"].shape == (8, 8)
    save_pair(tmp_path, "train", "b", (16, 12), np.ones((7, 9), np.uint8))
    assert "mask is 9x7 but its image" in setup_error(tmp_path, validate="full")
    module = datamodule(tmp_path, validate="full", mask_size="any")
    module.setup("fit")
    assert module.datasets["train"][1]["mask"].shape == (8, 8)


def test_a_16_bit_mask_value_above_255_is_refused_before_any_cast(tmp_path):
    write_folder(tmp_path)
    mask = np.ones((8, 8), np.uint16)
    mask[2, 3] = 257  # cast to 8 bits it would train as class 1
    Image.fromarray(mask).save(tmp_path / "train" / "masks" / "b.png")
    assert Image.open(tmp_path / "train" / "masks" / "b.png").mode == "I;16"
    message = setup_error(tmp_path, validate="full")
    assert "train/masks/b.png: mask value 257 does not fit in 8 bits" in message
    module = datamodule(tmp_path, validate="off")
    module.setup("fit")
    with pytest.raises(ValueError, match=r"b\.png: mask value 257 does not fit in 8 bits"):
        module.datasets["train"][1]


def test_an_image_and_another_of_the_same_name_are_refused_naming_both(tmp_path):
    write_folder(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "val" / "images" / "a.png")
    message = setup_error(tmp_path)
    assert re.search(r"val/images/a\.jpg and .*val/images/a\.png", message), message

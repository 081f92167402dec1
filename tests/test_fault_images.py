"""Hostile images, read one file at a time by predict, evaluate and training alike: a generated
decompression bomb (a few KiB whose header promises hundreds of millions of pixels), a file over
a lowered max_pixels, an animated GIF, a multi-page TIFF, a damaged JPEG and a zip named .png.
A file that cannot be read safely is skipped with a warning naming it and counted; strict=true
makes it an error; frames are parsed all or first, as configured, and said in the log."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import CONF
from hydra import compose, initialize_config_dir
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf
from PIL import Image

from seg_f1 import evaluate, predict
from seg_f1.data.folder import Sample
from seg_f1.data.images import read_photo
from seg_f1.data.validation import find_problems


def bomb(path: Path, side: int) -> Path:
    """A one-bit PNG of ``side`` x ``side`` zeros: kilobytes on disk, ``side**2`` pixels."""
    Image.new("1", (side, side)).save(path)
    return path


def photo(path: Path, size=(32, 32), value: int = 90) -> Path:
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    photo(folder / "good.png")
    bomb(folder / "bomb.png", 20_000)  # 400 M pixels: over twice Pillow's limit, refused by it
    bomb(folder / "mid.png", 10_000)  # 100 M pixels: Pillow only warns; max_pixels refuses
    frames = [Image.new("RGB", (32, 32), (40 * k, 0, 0)) for k in range(3)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    pages = [Image.new("RGB", (32, 32), "grey"), Image.new("RGB", (48, 40), "white")]
    pages[0].save(folder / "pages.tif", save_all=True, append_images=pages[1:])
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    with zipfile.ZipFile(folder / "archive.png", "w") as archive:
        archive.writestr("inside.txt", "not an image")
    (folder / "notes.txt").write_text("not an image either")
    assert (folder / "bomb.png").stat().st_size < 200_000
    return folder


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("model") / "model.ckpt")


def run_predict(ckpt, source, output, **extra):
    keys = {"backend": "torch", "ckpt_path": str(ckpt), "onnx_model": None, "input": str(source),
            "output": str(output), "overlay": False, "batch_size": 2, "progress": False,
            "overwrite": False, **extra}  # fmt: skip
    return predict.run(OmegaConf.create(keys))


def test_predict_skips_what_cannot_be_read_safely_and_parses_every_frame(
    hostile, ckpt, tmp_path, caplog
):
    with caplog.at_level(logging.INFO):
        written = run_predict(ckpt, hostile, tmp_path / "out")
    sizes = {p.name: Image.open(p).size for p in written}
    assert sizes == {
        "good_mask.png": (32, 32),
        "anim_frame0_mask.png": (32, 32), "anim_frame1_mask.png": (32, 32),
        "anim_frame2_mask.png": (32, 32),
        "pages_frame0_mask.png": (32, 32), "pages_frame1_mask.png": (48, 40),
    }  # fmt: skip
    text = caplog.text
    assert f"skipped {hostile / 'bomb.png'}: too large to read safely" in text
    assert (
        f"skipped {hostile / 'mid.png'}: too large to read safely (10000x10000 = 100,000,000"
        in text
    )
    assert f"skipped {hostile / 'broken.jpg'}: cannot read image" in text
    assert f"skipped {hostile / 'archive.png'}: cannot read image" in text
    assert "anim.gif holds 3 frames: each is parsed" in text
    assert "wrote 6 masks for 3 of 7 image files" in text and "4 skipped (" in text
    assert "left 1 file with no image suffix" in text and "notes.txt" in text


def test_predict_first_frame_only_and_a_lowered_pixel_limit(ckpt, tmp_path, caplog):
    source = tmp_path / "in"
    source.mkdir()
    frames = [Image.new("RGB", (16, 16), (80 * k, 0, 0)) for k in range(3)]  # 3 x 256 pixels
    frames[0].save(source / "anim.gif", save_all=True, append_images=frames[1:])
    photo(source / "good.png", (32, 32))  # 1,024 pixels
    photo(source / "small.png", (16, 16))
    with caplog.at_level(logging.INFO):
        written = run_predict(ckpt, source, tmp_path / "first", frames="first", max_pixels=500)
    assert [p.name for p in written] == ["anim_mask.png", "small_mask.png"]
    assert (
        "anim.gif holds 3 frames: only the first is parsed (frames=all parses each)" in caplog.text
    )
    assert "good.png: too large to read safely (32x32 = 1,024 pixels, over max_pixels=500)" in (
        caplog.text
    )
    written = run_predict(ckpt, source, tmp_path / "all", frames="all", max_pixels=500)
    assert [p.name for p in written] == ["small_mask.png"]  # all frames: 768 pixels together
    assert "anim.gif: too large to read safely (16x16 x 3 frames = 768 pixels" in caplog.text


def test_strict_turns_a_skip_into_an_error_naming_the_file(hostile, ckpt, tmp_path):
    with pytest.raises(
        ValueError, match=r"strict=true, and a file cannot be read safely: .*archive"
    ):
        run_predict(ckpt, hostile, tmp_path / "out", strict=True)


def write_split(root: Path) -> None:
    images, masks = root / "test" / "images", root / "test" / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for name in ("a", "b"):
        photo(images / f"{name}.png")
        Image.fromarray(np.ones((32, 32), np.uint8)).save(masks / f"{name}.png")
    bomb(images / "c.png", 20_000)
    Image.fromarray(np.ones((32, 32), np.uint8)).save(masks / "c.png")


def test_evaluate_skips_and_counts_a_bomb_in_the_split_and_strict_refuses_it(ckpt, tmp_path):
    write_split(tmp_path / "faces")
    overrides = [f"ckpt_path={ckpt}", "data=folder", f"data.root={tmp_path / 'faces'}",
                 "data.image_size=32", f"output_dir={tmp_path / 'out'}",
                 "progress=false"]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        lenient = compose("evaluate", overrides=overrides)
        strict = compose("evaluate", overrides=[*overrides, "strict=true"])
    result = evaluate.run(lenient)
    assert result["confusion"].sum() == 2 * 32 * 32  # the two readable pairs
    assert result["skipped"] == [tmp_path / "faces" / "test" / "images" / "c.png"]
    assert "test: 2 images (1 skipped (" in (tmp_path / "out" / "evaluation.md").read_text()
    with pytest.raises(ValueError, match=r"strict=true, .*c\.png: too large to read safely"):
        evaluate.run(strict)


def test_training_data_with_a_bomb_names_it_as_a_bad_sample(tmp_path, caplog):
    photo(tmp_path / "face.png")
    bomb(tmp_path / "bomb.png", 20_000)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "mask.png")
    samples = [Sample(tmp_path / n, tmp_path / "mask.png") for n in ("face.png", "bomb.png")]
    (problem,) = find_problems(samples, num_classes=19, ignore_index=255, validate="full")
    assert problem.unreadable and problem.reason.startswith(f"{tmp_path / 'bomb.png'}: too large")
    pages = [Image.new("RGB", (32, 32), "grey")] * 2
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    with caplog.at_level(logging.WARNING):
        image, _ = read_photo(tmp_path / "pages.tif")
    assert image.shape == (32, 32, 3) and "pages.tif holds 2 frames; only the first" in caplog.text

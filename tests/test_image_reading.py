"""Photos are read as they are displayed (EXIF orientation), 16-bit greyscale scaled to 8 bits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf
from PIL import Image
from skimage import data as skimage_data

from seg_f1 import predict
from seg_f1.data import images
from seg_f1.data.dataset import FaceParsingDataset
from seg_f1.data.folder import Sample
from seg_f1.data.images import read_image

ORIENTATION = 0x0112
ROTATED_90_CW = 6  # the viewer turns the stored pixels 90° clockwise


def displayed_photo(height: int, width: int) -> np.ndarray:
    """Top half white, bottom half black: upside down or turned, it reads differently."""
    photo = np.zeros((height, width, 3), np.uint8)
    photo[: height // 2] = 255
    return photo


def save_turned_jpeg(path, displayed: np.ndarray) -> None:
    """Store the pixels turned 90° anticlockwise with Orientation=6, as a phone held sideways
    writes them: a viewer that honours the tag shows ``displayed``."""
    stored = Image.fromarray(np.rot90(displayed, k=1))
    exif = stored.getexif()
    exif[ORIENTATION] = ROTATED_90_CW
    stored.save(path, exif=exif, quality=95)


def test_a_jpeg_with_an_orientation_tag_is_read_as_displayed(tmp_path):
    save_turned_jpeg(tmp_path / "phone.jpg", displayed_photo(64, 32))
    image = read_image(tmp_path / "phone.jpg")
    assert image.shape == (64, 32, 3)
    assert image[:28].min() > 240 and image[36:].max() < 15


def test_training_items_align_a_turned_photo_with_its_upright_mask(tmp_path):
    save_turned_jpeg(tmp_path / "phone.jpg", displayed_photo(64, 32))
    mask = np.zeros((64, 32), np.uint8)
    mask[:32] = 1  # drawn on the displayed photo: the white half is class 1
    Image.fromarray(mask).save(tmp_path / "phone.png")
    dataset = FaceParsingDataset([Sample(tmp_path / "phone.jpg", tmp_path / "phone.png")], 32)
    item = dataset[0]
    white = item["image"].float().mean(0) > 128
    assert (white == (item["mask"] == 1))[2:-2].all()  # JPEG blur only at the boundary rows


def test_predict_writes_masks_the_shape_of_the_displayed_photo(tmp_path):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    save_turned_jpeg(tmp_path / "phone.jpg", displayed_photo(60, 40))
    cfg = OmegaConf.create({"backend": "torch", "onnx_model": None, "ckpt_path": str(ckpt),
                            "input": str(tmp_path / "phone.jpg"),
                            "output": str(tmp_path / "out"), "overlay": True, "batch_size": 1,
                            "progress": False, "overwrite": False})  # fmt: skip
    (written,) = predict.run(cfg)
    assert Image.open(written).size == (40, 60)
    assert Image.open(tmp_path / "out" / "phone_overlay.png").size == (40, 60)


def test_a_16_bit_greyscale_png_is_scaled_to_8_bits(tmp_path):
    grey = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 257).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I")  # Pillow keeps the 16 bits
    image = read_image(tmp_path / "deep.png")
    assert image.dtype == np.uint8 and image.shape == (16, 16, 3)
    expected = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], expected)


def photo_1024(path) -> None:
    """A real photo (skimage's astronaut, 512²) brought to CelebA-HQ's 1024² JPEG."""
    big = cv2.resize(skimage_data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    Image.fromarray(big).save(path, quality=95)


@pytest.mark.parametrize(("size", "factor"), [(512, 2), (448, 2), (256, 4), (160, 4), (128, 8)])
def test_reduced_jpeg_decode_is_within_2_grey_levels_of_the_full_decode(tmp_path, size, factor):
    photo_1024(tmp_path / "face.jpg")
    reduced = read_image(tmp_path / "face.jpg", min_side=size)
    assert reduced.shape == (1024 // factor, 1024 // factor, 3)  # never below the model size
    full = read_image(tmp_path / "face.jpg")
    assert full.shape == (1024, 1024, 3)
    area = (size, size)
    difference = cv2.resize(reduced, area, interpolation=cv2.INTER_AREA).astype(float) - cv2.resize(
        full, area, interpolation=cv2.INTER_AREA
    )
    assert np.abs(difference).mean() < 2.0


def test_dataset_items_from_a_1024_jpeg_keep_their_masks_and_read_reduced(tmp_path):
    photo_1024(tmp_path / "face.jpg")
    mask = np.zeros((512, 512), np.uint8)
    mask[:256, :256], mask[:256, 256:], mask[256:, :256], mask[256:, 256:] = 1, 2, 3, 255
    mask[100:110, 200:400] = 7
    Image.fromarray(mask).save(tmp_path / "face.png")
    sample = Sample(tmp_path / "face.jpg", tmp_path / "face.png")
    item = FaceParsingDataset([sample], 512)[0]
    np.testing.assert_array_equal(item["mask"].numpy(), mask)
    full = cv2.resize(read_image(sample.image), (512, 512), interpolation=cv2.INTER_AREA)
    image = item["image"].permute(1, 2, 0).numpy()
    assert 0 < np.abs(image.astype(float) - full).mean() < 2.0  # reduced, and close


def test_png_and_small_jpegs_decode_in_full(tmp_path):
    big = cv2.resize(skimage_data.astronaut(), (1024, 1024))
    Image.fromarray(big).save(tmp_path / "face.png")
    assert read_image(tmp_path / "face.png", min_side=128).shape == (1024, 1024, 3)
    Image.fromarray(big[:600, :600]).save(tmp_path / "small.jpg")
    assert read_image(tmp_path / "small.jpg", min_side=512).shape == (600, 600, 3)


def test_the_reduced_decode_applies_the_orientation_tag(tmp_path):
    displayed = cv2.resize(displayed_photo(64, 32), (256, 512), interpolation=cv2.INTER_NEAREST)
    save_turned_jpeg(tmp_path / "phone.jpg", displayed)  # stored 512 wide, 256 high
    image = read_image(tmp_path / "phone.jpg", min_side=64)
    assert image.shape == (512 // 4, 256 // 4, 3)  # 1/4 scale, displayed orientation
    assert image[:60].min() > 240 and image[68:].max() < 15


def test_a_truncated_jpeg_is_named_on_the_reduced_path_too(tmp_path):
    photo_1024(tmp_path / "face.jpg")
    data = (tmp_path / "face.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.jpg: cannot read image"):
        read_image(tmp_path / "cut.jpg", min_side=256)


def spy_on_the_opencv_path(monkeypatch) -> list[bool]:
    """Records, per read, whether OpenCV decoded the file (True) or left it to Pillow."""
    taken = []
    opencv_path = images._reduced_jpeg_with_opencv

    def recorded(*args):
        pixels = opencv_path(*args)
        taken.append(pixels is not None)
        return pixels

    monkeypatch.setattr(images, "_reduced_jpeg_with_opencv", recorded)
    return taken


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_opencv_reduced_decode_turns_like_pillow_for_every_orientation(
    tmp_path, monkeypatch, orientation
):
    """The fast path applies the EXIF orientation itself; Pillow's full decode is the reference."""
    taken = spy_on_the_opencv_path(monkeypatch)
    stored = cv2.resize(skimage_data.astronaut(), (1024, 512))  # not square: turns show
    stored[:64, :128] = (255, 0, 0)  # and a corner mark, so a mirror shows too
    picture = Image.fromarray(stored)
    exif = picture.getexif()
    exif[ORIENTATION] = orientation
    picture.save(tmp_path / "face.jpg", exif=exif, quality=95)
    reduced = read_image(tmp_path / "face.jpg", min_side=128)  # 1/4 scale
    assert taken == [True]
    full = read_image(tmp_path / "face.jpg")
    assert reduced.shape[:2] == (full.shape[0] // 4, full.shape[1] // 4)
    shrunk = cv2.resize(full, reduced.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(reduced.astype(float) - shrunk).mean() < 2.0


def test_bytes_after_the_end_marker_take_pillows_path_and_still_read(tmp_path, monkeypatch):
    photo_1024(tmp_path / "face.jpg")
    data = (tmp_path / "face.jpg").read_bytes()
    (tmp_path / "padded.jpg").write_bytes(data + b"\x00" * 16)  # as some cameras write
    taken = spy_on_the_opencv_path(monkeypatch)
    padded = read_image(tmp_path / "padded.jpg", min_side=512)
    plain = read_image(tmp_path / "face.jpg", min_side=512)
    assert taken == [False, True]  # Pillow for the padded file, OpenCV for the plain one
    assert padded.shape == plain.shape == (512, 512, 3)
    assert np.abs(padded.astype(float) - plain).mean() < 2.0

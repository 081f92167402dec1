"""Photos are read as they are displayed (EXIF orientation), 16-bit greyscale scaled to 8 bits."""

from __future__ import annotations

import numpy as np
from inference_fixtures import write_checkpoint
from omegaconf import OmegaConf
from PIL import Image

from seg_f1 import predict
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
    cfg = OmegaConf.create({"ckpt_path": str(ckpt), "input": str(tmp_path / "phone.jpg"),
                            "output": str(tmp_path / "out"), "overlay": True, "batch_size": 1,
                            "progress": False})  # fmt: skip
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

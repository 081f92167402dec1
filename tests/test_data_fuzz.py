"""Fuzzed files: random bytes, truncated PNGs and random mask values fail with the file's name."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from seg_f1.data.dataset import FaceParsingDataset
from seg_f1.data.folder import Sample

NUM_CLASSES = 19


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


GOOD_IMAGE = png_bytes(np.full((16, 16, 3), 128, np.uint8))
GOOD_MASK = png_bytes(np.zeros((16, 16), np.uint8))


def load(image: bytes, mask: bytes) -> tuple[dict | None, Exception | None, Path]:
    folder = Path(tempfile.mkdtemp())
    (folder / "face.png").write_bytes(image)
    (folder / "face_mask.png").write_bytes(mask)
    dataset = FaceParsingDataset(
        [Sample(folder / "face.png", folder / "face_mask.png")], 16,
        num_classes=NUM_CLASSES,
    )  # fmt: skip
    try:
        return dataset[0], None, folder
    except Exception as error:  # noqa: BLE001 - the test inspects whatever comes out
        return None, error, folder
    finally:
        shutil.rmtree(folder)


def assert_named_error(error: Exception | None, path: Path) -> None:
    assert isinstance(error, ValueError), repr(error)
    assert str(path) in str(error)


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=0, max_size=2048))
def test_random_bytes_as_image_raise_a_named_error(data):
    sample, error, folder = load(data, GOOD_MASK)
    if sample is None:
        assert_named_error(error, folder / "face.png")


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=1, max_value=len(GOOD_IMAGE) - 1), which=st.booleans())
def test_truncated_png_raises_a_named_error(cut, which):
    image, mask = (GOOD_IMAGE[:cut], GOOD_MASK) if which else (GOOD_IMAGE, GOOD_MASK[:cut])
    sample, error, folder = load(image, mask)
    if sample is None:
        assert_named_error(error, folder / ("face.png" if which else "face_mask.png"))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_random_mask_values_are_accepted_only_when_valid(seed):
    values = np.random.default_rng(seed).integers(0, 256, (16, 16), dtype=np.uint8)
    sample, error, folder = load(GOOD_IMAGE, png_bytes(values))
    valid = bool(((values < NUM_CLASSES) | (values == 255)).all())
    if valid:
        assert sample is not None and int(sample["mask"].max()) in (*range(NUM_CLASSES), 255)
    else:
        assert_named_error(error, folder / "face_mask.png")
        assert "not class indices" in str(error)


def test_valid_pair_loads():
    sample, error, _ = load(GOOD_IMAGE, GOOD_MASK)
    assert error is None and sample["image"].shape == (3, 16, 16)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_colour_mask_is_named(mode):
    mask = png_bytes(np.zeros((16, 16, len(mode)), np.uint8))
    _, error, folder = load(GOOD_IMAGE, mask)
    assert_named_error(error, folder / "face_mask.png")

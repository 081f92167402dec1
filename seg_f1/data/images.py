"""Photos read the way a viewer shows them, as 8-bit RGB, decoded no larger than the model needs,
and never larger than a pixel limit: a file whose header promises more pixels than
``max_pixels`` (a decompression bomb: a few KiB that would decode to gigabytes) is refused
before any pixel is decoded, naming the file."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
ORIENTATION_TAG = 0x0112
MAX_PIXELS = 89_478_485  # Pillow's own default warning limit: a 9459 x 9459 photo, 256 MiB as RGB
FRAMES = ("all", "first")  # of an animated GIF/WebP/PNG or a multi-page TIFF
# formats whose frames are pictures of their own (a phone's MPO JPEG holds a preview as frame 2)
MULTI_FRAME_FORMATS = ("GIF", "PNG", "WEBP", "TIFF")
BAND_PIXELS = 1 << 20  # pixels per band when a decoded picture is copied out (3 MB of RGB)
TOLD_FILES = 5  # files named for holding several frames; the rest are counted once
UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
_PILLOW_LIMIT = threading.Lock()
_told_first_frame: set[str] = set()


class UnreadableImage(ValueError):
    """A file that cannot be read safely: damaged, in a container Pillow and OpenCV do not know,
    or over the pixel limit. Not a file that reads but is wrong (an RGB mask, say)."""


class ImageRefused(UnreadableImage):
    """A file with more pixels than the limit allows, refused before it is decoded."""


@contextmanager
def pixel_limit(max_pixels: int) -> Iterator[None]:
    """Pillow warns above its ``MAX_IMAGE_PIXELS`` and refuses twice that; seg_f1 checks
    ``max_pixels`` itself, so Pillow's warning is silenced, and its limit lifted (under a lock)
    only for a ``max_pixels`` above Pillow's refusal."""
    limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if limit is None or max_pixels <= 2 * limit:
            yield
            return
        with _PILLOW_LIMIT:
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                yield
            finally:
                Image.MAX_IMAGE_PIXELS = limit


def check_pixels(path, sizes: list[tuple[int, int]], max_pixels: int) -> None:
    """Refuse a file whose frames to be read hold more than ``max_pixels`` pixels together."""
    total = sum(width * height for width, height in sizes)
    if total > max_pixels:
        width, height = sizes[0]
        frames = f" x {len(sizes)} frames" if len(sizes) > 1 else ""
        raise ImageRefused(
            f"{path}: too large to read safely ({width}x{height}{frames} = {total:,} pixels, "
            f"over max_pixels={max_pixels:,}); raise max_pixels (data.max_pixels for a dataset) "
            "if you trust the file"
        )


def refused(path, error: BaseException, what: str = "image") -> UnreadableImage:
    """The error for a file Pillow could not open or decode, naming it."""
    if isinstance(error, UnreadableImage):
        return error
    if isinstance(error, Image.DecompressionBombError):
        return ImageRefused(
            f"{path}: too large to read safely ({error}); raise max_pixels (data.max_pixels for "
            "a dataset) if you trust the file"
        )
    return UnreadableImage(f"{path}: cannot read {what} ({error})")


def open_image(path, max_pixels: int = MAX_PIXELS, what: str = "image") -> Image.Image:
    """Pillow's lazy open (the header only), refused over ``max_pixels``; a file Pillow does
    not know raises ``UnidentifiedImageError``, any other failure a ``ValueError`` naming it."""
    try:
        with pixel_limit(max_pixels):
            image = Image.open(path)
    except UnidentifiedImageError:
        raise
    except UNREADABLE as error:
        raise refused(path, error, what) from error
    try:
        check_pixels(path, [image.size], max_pixels)
    except ImageRefused:
        image.close()
        raise
    return image


def read_frames(
    path, max_pixels: int = MAX_PIXELS, frames: str = "all"
) -> tuple[list[np.ndarray], int]:
    """The frames of an animated GIF, WebP or PNG, or the pages of a multi-page TIFF, as
    ``read_image`` reads a photo: every one (``frames=all``) or the first; and how many the
    file holds. ``max_pixels`` counts the frames read together."""
    if frames not in FRAMES:
        raise ValueError(f"frames={frames!r}: expected one of {FRAMES}")
    try:
        image = open_image(path, max_pixels)
    except UnidentifiedImageError as error:
        return [_read_with_opencv(path, error, max_pixels)], 1
    with image, pixel_limit(max_pixels):
        try:
            count = frame_count(image)
            taken = range(count if frames == "all" else 1)
            sizes = []
            for index in taken:
                image.seek(index)
                sizes.append(image.size)
            check_pixels(path, sizes, max_pixels)
            out = []
            for index in taken:
                image.seek(index)
                out.append(_rgb(_displayed(image)))
            return out, count
        except UNREADABLE as error:
            raise refused(path, error) from error


def read_image(path, min_side: int | None = None) -> np.ndarray:
    """RGB uint8 with the EXIF orientation applied, since masks are drawn on the displayed photo.

    With ``min_side``, a JPEG whose sides are both at least 2, 4 or 8 times ``min_side`` is
    decoded by libjpeg at 1/2, 1/4 or 1/8 scale, never below ``min_side``: the caller's
    INTER_AREA resize to the model size then costs a fraction of a full decode. Other formats
    decode in full. An unreadable or truncated file is named in the error.
    """
    return read_photo(path, min_side)[0]


def read_photo(
    path, min_side: int | None = None, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, tuple[int, int]]:
    """``read_image``, and the photo's displayed (height, width) at full resolution, which a
    reduced decode no longer shows but a mask's size is checked against. A file of several
    frames gives its first (the one a mask labels), and says so once."""
    try:
        image = open_image(path, max_pixels)
    except UnidentifiedImageError as error:
        pixels = _read_with_opencv(path, error, max_pixels)
        return pixels, pixels.shape[:2]
    with image:
        try:
            _tell_first_frame(path, image)
            full_size = displayed_size(image)
            if min_side is not None:
                reduced = _reduced_jpeg_with_opencv(path, image, min_side)
                if reduced is not None:
                    return reduced, full_size
                image.draft("RGB", (min_side, min_side))
            ImageOps.exif_transpose(image, in_place=True)
            return _rgb(image), full_size
        except UNREADABLE as error:  # truncated, corrupt
            raise refused(path, error) from error


def frame_count(image: Image.Image) -> int:
    """The frames of an animation or the pages of a TIFF; 1 for anything else."""
    multi = image.format in MULTI_FRAME_FORMATS and getattr(image, "is_animated", False)
    return image.n_frames if multi else 1


def _tell_first_frame(path, image: Image.Image) -> None:
    """A dataset photo of several frames gives its first: said for the first few such files."""
    if str(path) in _told_first_frame or len(_told_first_frame) > TOLD_FILES:
        return
    count = frame_count(image)
    if count == 1:
        return
    _told_first_frame.add(str(path))
    if len(_told_first_frame) > TOLD_FILES:
        log.warning("more files hold several frames; each gives its first, not named again")
        return
    log.warning("%s holds %d frames; only the first is read (the one its mask labels)",
                path, count)  # fmt: skip


REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}  # fmt: skip
END_OF_IMAGE = b"\xff\xd9"
# what a viewer does to the stored pixels for each EXIF orientation (Pillow's exif_transpose)
ORIENTATION_TURNS = {
    2: lambda a: cv2.flip(a, 1),
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose,
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.rotate(cv2.transpose(a), cv2.ROTATE_180),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def _reduced_jpeg_with_opencv(path, image: Image.Image, min_side: int) -> np.ndarray | None:
    """OpenCV's reduced decode (3.16 ms against Pillow's ``draft`` 3.34 ms, 1024² -> 512²), for
    the common case: an RGB or grey JPEG at least twice ``min_side`` that ends with its
    end-of-image marker. None otherwise, and Pillow decodes: OpenCV fills a truncated file with
    grey and says nothing, where Pillow raises."""
    if image.format != "JPEG" or image.mode not in ("RGB", "L"):
        return None
    factor = max((f for f in REDUCED_FLAGS if min(image.size) >= f * min_side), default=1)
    if factor == 1:
        return None
    data = np.fromfile(path, np.uint8)
    if data[-2:].tobytes() != END_OF_IMAGE:
        return None
    pixels = cv2.imdecode(data, REDUCED_FLAGS[factor] | cv2.IMREAD_IGNORE_ORIENTATION)
    if pixels is None:
        return None
    turn = ORIENTATION_TURNS.get(image.getexif().get(ORIENTATION_TAG))
    pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return turn(pixels) if turn else pixels


def displayed_size(image: Image.Image) -> tuple[int, int]:
    """(height, width) as the photo is shown, from the header: an EXIF turn by 90° swaps them."""
    width, height = image.size
    turned = image.getexif().get(ORIENTATION_TAG) in (5, 6, 7, 8)
    return (width, height) if turned else (height, width)


def _displayed(image: Image.Image) -> Image.Image:
    """``ImageOps.exif_transpose``, without the copy it makes of a photo that needs no turn (a
    12 MP photo's copy is 48 MB); the frame stays untouched for the next ``seek``."""
    image.load()  # a PNG's EXIF may follow its pixels
    if image.getexif().get(ORIENTATION_TAG, 1) in ORIENTATION_TURNS:
        return ImageOps.exif_transpose(image)
    return image


def _rgb(image: Image.Image) -> np.ndarray:
    """16-bit greyscale keeps its top 8 bits: Pillow's own conversion would clip it to 255.
    Copied out in bands of rows: ``np.asarray`` of the whole picture would hold its bytes twice
    more (Pillow's chunks and their join) and a mode conversion once more, ~160 MB at 12 MP."""
    if image.mode in SIXTEEN_BIT_MODES:
        grey = (np.clip(np.asarray(image), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    width, height = image.size
    out = np.empty((height, width, 3), np.uint8)
    rows = max(1, BAND_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(top + rows, height)))
        out[top : top + rows] = np.asarray(band if band.mode == "RGB" else band.convert("RGB"))
    return out


def _read_with_opencv(path, pillow_error: Exception, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Formats Pillow does not know (Radiance .hdr, for one); float images are taken as 0..1.
    Only those: OpenCV would fill a truncated JPEG with grey and say nothing. OpenCV reads no
    header alone, so ``max_pixels`` is checked after the decode, which OpenCV's own limit
    (``CV_IO_MAX_IMAGE_PIXELS``, 2**30 pixels) bounds."""
    image = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    if image is None:
        raise UnreadableImage(f"{path}: cannot read image ({pillow_error})") from pillow_error
    check_pixels(path, [image.shape[1::-1]], max_pixels)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

"""The photos a command reads and the files it writes for them: every image under the input (none
from inside the output folder), an output folder that is never overwritten unless asked, and one
rule for a file that cannot be read safely (:class:`Skips`), which predict and evaluate share."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from seg_f1.data.folder import IMAGE_SUFFIXES, keyed
from seg_f1.data.images import UnreadableImage, read_frames
from seg_f1.report.files import save_bytes

log = logging.getLogger(__name__)

# what predict reads: the dataset formats and animations (frames=all parses each frame)
INPUT_SUFFIXES = (*IMAGE_SUFFIXES, ".gif")
SHOWN = 5  # file names a summary line lists before it counts the rest


class Skips:
    """A file that cannot be read safely (more pixels than ``max_pixels``, unreadable, a
    container Pillow and OpenCV do not know) is skipped with a warning that names it and
    counted; with ``strict`` it is an error instead, since a partial result may not do."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.files: list[Path] = []

    def skip(self, path: Path, error: Exception | str) -> None:
        if self.strict:
            raise ValueError(
                f"strict=true, and a file cannot be read safely: {error} (strict=false skips "
                "such files with a warning)"
            ) from (error if isinstance(error, Exception) else None)
        log.warning("skipped %s", error)  # the error starts with the file's path
        self.files.append(Path(path))

    def summary(self) -> str:
        """``2 skipped (a.png, b.png)``, or an empty string."""
        return f"{len(self.files)} skipped ({listed(self.files)})" if self.files else ""


def listed(paths: Sequence[Path]) -> str:
    names = ", ".join(str(p) for p in paths[:SHOWN])
    return names + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")


def input_files(path: Path, output: Path) -> tuple[list[Path], Path, list[Path]]:
    """The images to parse (none from inside ``output``: never our own masks), the folder their
    output names are relative to, and the other files there (not images by their suffix), so
    the summary can say they were left alone. Two photos that would write one mask are
    refused."""
    if path.is_file():
        return [path], path.parent, []
    if not path.is_dir():
        raise FileNotFoundError(f"input: no such file or folder {path}")
    skipped = output.resolve()
    found = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not p.name.startswith(".") and not p.resolve().is_relative_to(skipped)
    )
    files = [p for p in found if p.suffix.lower() in INPUT_SUFFIXES]
    keyed(files, lambda p: str(p.relative_to(path).with_suffix("")))  # raises on a clash
    return files, path, [p for p in found if p.suffix.lower() not in INPUT_SUFFIXES]


OUTPUT_LOCK = ".predict.lock"  # held while a predict writes into its folder


def check_output(output: Path, overwrite: bool) -> None:
    """Masks already in ``output`` are the user's: replaced only when asked."""
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"output={output} is a file; give a folder for the masks")
    if output.is_dir() and any(p.name != OUTPUT_LOCK for p in output.iterdir()) and not overwrite:
        raise FileExistsError(
            f"output={output} is not empty; choose a new folder, or pass overwrite=true to "
            "replace the masks in it"
        )


def readable(
    files: Sequence[Path], skips: Skips, max_pixels: int, frames: str = "all"
) -> Iterator[tuple[Path, str, np.ndarray]]:
    """``(file, suffix for its outputs, RGB image)`` one file at a time: a still photo with
    suffix ``""``, each frame of an animation or page of a TIFF with ``_frame<k>`` (or its
    first alone, with ``frames=first``), said in the log either way."""
    for path in files:
        try:
            images, count = read_frames(path, max_pixels, frames)
        except UnreadableImage as error:
            skips.skip(path, error)
            continue
        if count > 1 and frames == "all":
            log.info("%s holds %d frames: each is parsed (%s_frame<k>_mask.png)",
                     path, count, path.stem)  # fmt: skip
        elif count > 1:
            log.warning("%s holds %d frames: only the first is parsed (frames=all parses each)",
                        path, count)  # fmt: skip
        width = len(str(count - 1))
        for index, image in enumerate(images):
            yield path, f"_frame{index:0{width}d}" if len(images) > 1 else "", image


def batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# zlib level of an overlay: a 12 MP one is written in 1.1 s at level 1, 4.1 s at PNG's usual 6,
# for a file 25 % larger; masks (a few flat regions) stay at 6, which costs them nothing
OVERLAY_COMPRESSION = 1


def save_png(array: np.ndarray, path: Path, compress_level: int = 6) -> None:
    """Encoded first, so a full disk's error can say how many bytes the file needed."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=compress_level)
    save_bytes(buffer.getvalue(), path)

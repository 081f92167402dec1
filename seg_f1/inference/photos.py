"""The photos a command reads and the files it writes for them: every image under the input (none
from inside the output folder), an unreadable file skipped with a warning that names it, and an
output folder that is never overwritten unless asked."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from seg_f1.data.folder import IMAGE_SUFFIXES, keyed
from seg_f1.data.images import read_image
from seg_f1.report.files import save_bytes

log = logging.getLogger(__name__)


def input_files(path: Path, output: Path) -> tuple[list[Path], Path]:
    """The images to parse (none from inside ``output``: never our own masks) and the folder
    their output names are relative to. Two photos that would write one mask are refused."""
    if path.is_file():
        return [path], path.parent
    if not path.is_dir():
        raise FileNotFoundError(f"input: no such file or folder {path}")
    skipped = output.resolve()
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.resolve().is_relative_to(skipped)
    )
    keyed(files, lambda p: str(p.relative_to(path).with_suffix("")))  # raises on a clash
    return files, path


def check_output(output: Path, overwrite: bool) -> None:
    """Masks already in ``output`` are the user's: replaced only when asked."""
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"output={output} is a file; give a folder for the masks")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise FileExistsError(
            f"output={output} is not empty; choose a new folder, or pass overwrite=true to "
            "replace the masks in it"
        )


def readable(files: Sequence[Path]) -> Iterator[tuple[Path, np.ndarray]]:
    for path in files:
        try:
            yield path, read_image(path)
        except ValueError as error:
            log.warning("skipped %s: %s", path, error)


def batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def save_png(array: np.ndarray, path: Path) -> None:
    """Encoded first, so a full disk's error can say how many bytes the file needed."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    save_bytes(buffer.getvalue(), path)

"""Face parsing of any photo or folder of photos, at the photo's own size.

``python -m seg_f1.predict ckpt_path=<ckpt> input=<image|folder> output=<folder> [overlay=true]``
writes ``<name>_mask.png`` (class indices) and ``<name>_overlay.png`` per image, keeping the
input folder's sub-folders, and ``legend.png`` with the overlays' class colours. With
``backend=onnx onnx_model=<file.onnx>`` an export of ``seg_f1.export`` runs through onnxruntime and
no torch checkpoint is needed. Unreadable files are skipped with a warning that names them. A
non-empty output folder is refused unless ``overwrite=true``; one inside the input is not read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from PIL import Image
from rich.progress import track
from torch import Tensor

from seg_f1 import CONF_DIR
from seg_f1.data.folder import IMAGE_SUFFIXES, keyed
from seg_f1.data.images import read_image
from seg_f1.inference import InputRecipe, load_model, to_tensor
from seg_f1.io import write_atomically
from seg_f1.onnx_model import OnnxModel
from seg_f1.report.figures import legend_figure
from seg_f1.report.files import save_figure
from seg_f1.report.palette import overlay

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


@torch.no_grad()
def predict_logits(
    model: Callable[[Tensor], Tensor], recipe: InputRecipe, images: Sequence[np.ndarray]
) -> list[Tensor]:
    """[C, H, W] logits per photo, each at the photo's own height and width; ``model`` is the
    torch network or an :class:`OnnxModel`."""
    size = (recipe.image_size, recipe.image_size)
    small = [cv2.resize(image, size, interpolation=cv2.INTER_AREA) for image in images]
    logits = model(to_tensor(small, recipe))
    return [
        F.interpolate(one[None], size=image.shape[:2], mode="bilinear", align_corners=False)[0]
        for image, one in zip(images, logits, strict=True)
    ]


def predict_masks(model, recipe: InputRecipe, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """One uint8 index mask per photo, each at the photo's own height and width."""
    logits = predict_logits(model, recipe, images)
    return [one.argmax(0).numpy().astype(np.uint8) for one in logits]


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
    write_atomically(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def load_backend(cfg: DictConfig) -> tuple[Any, InputRecipe]:
    """``backend=torch``: the checkpoint ``ckpt_path``; ``backend=onnx``: the export
    ``onnx_model`` (not ``model``: that name is the training config's model group)."""
    if cfg.backend == "torch":
        if not cfg.get("ckpt_path"):
            raise ValueError("backend=torch needs ckpt_path=<checkpoint>")
        return load_model(cfg.ckpt_path)
    if cfg.backend == "onnx":
        if not cfg.get("onnx_model"):
            raise ValueError(
                "backend=onnx needs onnx_model=<file.onnx> (from python -m seg_f1.export)"
            )
        model = OnnxModel(cfg.onnx_model)
        return model, model.recipe
    raise ValueError(f"backend={cfg.backend}: expected torch or onnx")


def run(cfg: DictConfig) -> list[Path]:
    """Parse every readable image; returns the mask files written."""
    if cfg.batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {cfg.batch_size}")
    output = Path(cfg.output).expanduser()
    files, base = input_files(Path(cfg.input).expanduser(), output)
    check_output(output, cfg.overwrite)
    model, recipe = load_backend(cfg)
    if cfg.overlay:
        save_figure(legend_figure(model.class_names), output / "legend.png")
    written = []
    steps = batches(readable(files), cfg.batch_size)
    total = -(-len(files) // cfg.batch_size)
    for batch in track(steps, total=total, description="predicting", disable=not cfg.progress):
        masks = predict_masks(model, recipe, [image for _, image in batch])
        for (path, image), mask in zip(batch, masks, strict=True):
            stem = output / path.relative_to(base).with_suffix("")
            save_png(mask, stem.with_name(stem.name + "_mask.png"))
            if cfg.overlay:
                save_png(
                    overlay(image, mask, model.class_names),
                    stem.with_name(stem.name + "_overlay.png"),
                )
            written.append(stem.with_name(stem.name + "_mask.png"))
    log.info(
        "wrote %d masks to %s (%d files skipped)", len(written), output, len(files) - len(written)
    )
    return written


@hydra.main(config_path=str(CONF_DIR), config_name="predict", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()

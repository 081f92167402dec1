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
from pathlib import Path

import hydra
from omegaconf import DictConfig
from rich.progress import track

from seg_f1 import CONF_DIR, counted
from seg_f1.inference.parse import load_backend, predict_masks
from seg_f1.inference.photos import batches, check_output, input_files, readable, save_png
from seg_f1.report.figures import legend_figure
from seg_f1.report.files import save_figure
from seg_f1.report.palette import overlay
from seg_f1.runs.directory import announced, hydra_run_dir

log = logging.getLogger(__name__)


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
        "wrote %s to %s (%s skipped)",
        counted(len(written), "mask"),
        output,
        counted(len(files) - len(written), "file"),
    )
    return written


@hydra.main(config_path=str(CONF_DIR), config_name="predict", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with announced("predict", hydra_run_dir()):
        run(cfg)


if __name__ == "__main__":
    main()

"""Evaluate a checkpoint the way face-parsing papers report: one confusion matrix accumulated
over the whole split, 255 ignored, background left out of the means, optionally at the masks'
original resolution and with flip test-time augmentation.

``python -m seg_f1.evaluate ckpt_path=<ckpt> data=<dataset> [split=test] [tta=flip]
[eval_at_original_size=true]``
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from rich.console import Console
from rich.progress import track
from torch import Tensor

from seg_f1 import CONF_DIR
from seg_f1.data.dataset import read_fitting_photo, read_mask, resize_pair
from seg_f1.data.transforms import swap_lut
from seg_f1.inference import InputRecipe, load_model, to_tensor
from seg_f1.metrics import ConfusionMatrix, summary_rows
from seg_f1.report.files import save_text
from seg_f1.report.tables import csv_text, markdown, record_table, rich_table

log = logging.getLogger(__name__)

TTA_MODES = ("none", "flip")


@torch.no_grad()
def probabilities(model: torch.nn.Module, batch: Tensor, swap: Tensor | None = None) -> Tensor:
    """Softmax of the model; with ``swap`` (a class permutation) also of the mirrored batch,
    mirrored back with its left/right channels swapped, and the two averaged."""
    probs = model(batch).softmax(1)
    if swap is None:
        return probs
    mirrored = model(batch.flip(-1)).softmax(1).flip(-1)[:, swap]
    return (probs + mirrored) / 2


def evaluate_samples(
    model: torch.nn.Module,
    recipe: InputRecipe,
    samples: Sequence,
    class_names: Sequence[str],
    ignore_index: int = 255,
    tta: str = "none",
    at_original_size: bool = False,
    batch_size: int = 8,
    mask_size: str = "scaled",
    progress: bool = True,
) -> Tensor:
    """The split's accumulated confusion matrix. A mask that does not fit its photo is refused
    as in training (``mask_size``, see ``check_mask_size``), not resized into a score."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
    swap = torch.from_numpy(swap_lut(recipe.flip_pairs, class_names)[: len(class_names)]).long()
    swap = swap if tta == "flip" else None
    total = ConfusionMatrix(len(class_names), ignore_index)
    starts = range(0, len(samples), batch_size)
    what = f"evaluating {len(samples)} images"
    for start in track(starts, description=what, disable=not progress, transient=True):
        chunk = samples[start : start + batch_size]
        originals = [read_mask(sample.mask) for sample in chunk]
        resized = [
            resize_pair(
                read_fitting_photo(s, m.shape, recipe.image_size, mask_size), m, recipe.image_size
            )
            for s, m in zip(chunk, originals, strict=True)
        ]
        probs = probabilities(model, to_tensor([image for image, _ in resized], recipe), swap)
        for i, (_, small_mask) in enumerate(resized):
            target = originals[i] if at_original_size else small_mask
            p = probs[i : i + 1]
            if p.shape[-2:] != target.shape:
                p = F.interpolate(p, size=target.shape, mode="bilinear", align_corners=False)
            total.update(p, torch.from_numpy(target)[None])
    return total.compute()


def check_classes(ckpt_classes: Sequence[str], data_classes: Sequence[str], ckpt_path) -> None:
    if list(ckpt_classes) != list(data_classes):
        raise ValueError(
            f"{ckpt_path}: the checkpoint's classes {list(ckpt_classes)} differ from "
            f"data.classes {list(data_classes)}; evaluate with the data config it was trained on"
        )


def run(cfg: DictConfig) -> dict:
    """Evaluate and write ``evaluation.md``/``evaluation.csv`` into ``output_dir``."""
    model, recipe = load_model(cfg.ckpt_path)
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    check_classes(model.class_names, datamodule.class_names, cfg.ckpt_path)
    datamodule.prepare_data()
    samples = datamodule.checked_samples(cfg.split)
    confmat = evaluate_samples(
        model, recipe, samples, model.class_names, datamodule.ignore_index, cfg.tta,
        cfg.eval_at_original_size, cfg.batch_size, datamodule.mask_size, cfg.progress,
    )  # fmt: skip
    rows = summary_rows(confmat, model.class_names)
    title = (
        f"{cfg.split}: {len(samples)} images, tta={cfg.tta}, "
        f"{'original' if cfg.eval_at_original_size else 'model'} size"
    )
    table = record_table(rows, title)
    Console().print(rich_table(table))
    out = Path(cfg.output_dir)
    save_text(f"# {title}\n\nCheckpoint: {cfg.ckpt_path}\n\n" + markdown(table),
              out / "evaluation.md")  # fmt: skip
    save_text(csv_text(table), out / "evaluation.csv")
    torch.save(confmat, out / "confusion.pt")
    return {"mean_f1": rows[-1]["f1"], "rows": rows, "confusion": confmat}


@hydra.main(config_path=str(CONF_DIR), config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> float:
    return run(cfg)["mean_f1"]


if __name__ == "__main__":
    main()

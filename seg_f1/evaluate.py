"""Evaluate a checkpoint the way face-parsing papers report: one confusion matrix accumulated
over the whole split, 255 ignored, background left out of the means, optionally at the masks'
original resolution and with flip test-time augmentation.

``python -m seg_f1.evaluate ckpt_path=<ckpt> data=<dataset> [split=test] [tta=flip]
[eval_at_original_size=true] [decode=argmax|f1|both]``

``decode=f1`` decides with the checkpoint's tuned per-class offsets (``seg_f1.calibrate``);
``both`` scores argmax and the offsets in one pass, side by side.

``align=auto`` parses each photo as ``predict align=auto`` does (faces found by dlib, aligned to
the model's framing, warped back) and scores it at its mask's own resolution: F1 on in-the-wild
photos with full-photo masks. ``align=none`` (the default) is the squeezed-square scoring above.

A file that cannot be read safely (more pixels than ``data.max_pixels``, damaged, a container
Pillow and OpenCV do not know) is left out with a warning naming it and counted in the title of
the table; ``strict=true`` makes it an error. A pair that reads but is wrong (a mask that does not
fit its photo) follows ``data.on_bad_sample``, as in training.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from seg_f1 import CONF_DIR, counted
from seg_f1.config.checkpoint_data import use_checkpoint_data
from seg_f1.inference.model import ArrayNetwork, load_model
from seg_f1.inference.parse import Aligner
from seg_f1.inference.photos import Skips
from seg_f1.inference.rules import decoding_rules
from seg_f1.inference.scoring import check_classes, confusions, evaluate_aligned, scored_images
from seg_f1.metrics import f1_from_confusion, summary_rows
from seg_f1.report.files import save_text
from seg_f1.report.tables import csv_text, markdown, print_table, record_table
from seg_f1.runs.checkpoints import save_torch
from seg_f1.runs.directory import announced, hydra_run_dir

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    """Evaluate and write ``evaluation.md``/``evaluation.csv`` into ``output_dir``."""
    model, recipe = load_model(cfg.ckpt_path)
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    check_classes(model.class_names, datamodule.class_names, cfg.ckpt_path)
    datamodule.prepare_data()
    skips = Skips(bool(cfg.get("strict", False)))
    datamodule.on_unreadable = skips.skip
    samples = datamodule.checked_samples(cfg.split)
    at_setup = len(skips.files)
    decode = cfg.get("decode", "argmax")
    rules = decoding_rules(decode, model.decision_offsets, cfg.ckpt_path)
    aligned = cfg.get("align", "none") == "auto"
    if aligned:
        if cfg.tta != "none":
            raise ValueError(f"tta={cfg.tta} with align=auto: not supported; use tta=none")
        matrices = evaluate_aligned(
            ArrayNetwork(model), recipe, samples, model.class_names, Aligner(cfg),
            datamodule.ignore_index, datamodule.mask_size, cfg.progress, skips,
            datamodule.max_pixels, rules,
        )  # fmt: skip
    else:
        scored_pairs = scored_images(
            model, recipe, samples, model.class_names, cfg.tta, cfg.eval_at_original_size,
            cfg.batch_size, datamodule.mask_size, cfg.progress, skips, datamodule.max_pixels,
        )  # fmt: skip
        matrices = confusions(scored_pairs, rules, len(model.class_names), datamodule.ignore_index)
    rows = side_by_side({rule: summary_rows(m, model.class_names) for rule, m in matrices.items()})
    confmat = matrices["f1" if decode == "f1" else "argmax"]
    scored = len(samples) - (len(skips.files) - at_setup)
    title = (
        f"{cfg.split}: {counted(scored, 'image')}"
        + (f" ({skips.summary()})" if skips.files else "")
        + f", tta={cfg.tta}, "
        + (
            "aligned faces, mask size"
            if aligned
            else f"{'original' if cfg.eval_at_original_size else 'model'} size"
        )
        + f", decode={decode}"
    )
    table = record_table(rows, title)
    print_table(table)
    out = Path(cfg.output_dir)
    save_text(f"# {title}\n\nCheckpoint: {cfg.ckpt_path}\n\n" + markdown(table),
              out / "evaluation.md")  # fmt: skip
    save_text(csv_text(table), out / "evaluation.csv")
    save_torch(confmat, out / "confusion.pt")
    log.info("wrote %s, evaluation.csv and confusion.pt beside it", out / "evaluation.md")
    means = {rule: f1_from_confusion(m)[1] for rule, m in matrices.items()}
    return {
        "mean_f1": means["f1" if decode == "f1" else "argmax"],
        "mean_f1_by_rule": means,
        "rows": rows,
        "confusion": confmat,
        "skipped": skips.files,
    }


def side_by_side(rows_by_rule: dict[str, list[dict]]) -> list[dict]:
    """One rule's rows as they are; argmax's and the tuned rule's as argmax's rows with the
    tuned F1 beside them (``f1_tuned``)."""
    first, *rest = rows_by_rule.values()
    if not rest:
        return first
    return [row | {"f1_tuned": tuned["f1"]} for row, tuned in zip(first, rest[0], strict=True)]


@hydra.main(config_path=str(CONF_DIR), config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> float:
    with announced("evaluate", hydra_run_dir()):
        use_checkpoint_data(cfg)
        return run(cfg)["mean_f1"]


if __name__ == "__main__":
    main()

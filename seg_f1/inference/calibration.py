"""Calibrating a model's decision rule for F1: offsets tuned on one split (validation), scored
with argmax and with the offsets side by side on another (test), stored in the checkpoint under
``decision_offsets`` and recorded in ``calibration.json``.

The offsets are tuned on val and reported on test; val's own "after" figure is in-sample and
says so. A checkpoint's offsets are used only with the classes they were tuned for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from seg_f1 import counted
from seg_f1.inference.decoding import cross_validated_offsets
from seg_f1.inference.pixel_sample import MAX_PIXELS, PixelSample
from seg_f1.inference.recipe import InputRecipe, recipe_of
from seg_f1.inference.rules import KEY, OFFSET_LIMIT, checked_offsets
from seg_f1.inference.scoring import confusions, scored_images
from seg_f1.metrics import f1_from_confusion, per_class_rows
from seg_f1.report.decoding import SECTION, decoding_figure, diagnosis_section
from seg_f1.report.files import save_figure, save_text
from seg_f1.report.tables import Column, Table, decimals4
from seg_f1.runs.checkpoints import load_checkpoint, save_torch
from seg_f1.runs.results import write_json_atomic

log = logging.getLogger(__name__)

MIN_TUNING_IMAGES_PER_FOLD = 10  # a held-out fold of fewer images scores noise, not offsets


def calibrate(
    model: torch.nn.Module,
    recipe: InputRecipe,
    class_names: Sequence[str],
    tune_samples: Sequence,
    report_samples: Sequence | None = None,
    ignore_index: int = 255,
    max_pixels: int = MAX_PIXELS,
    folds: int = 5,
    batch_size: int = 8,
    progress: bool = False,
    splits: tuple[str, str] = ("val", "test"),
) -> dict:
    """Tune offsets on ``tune_samples`` and, when given, score ``report_samples`` both ways.
    Returns the record that ``calibration.json`` holds."""
    model.eval()
    started = time.perf_counter()
    sample = PixelSample(len(class_names), max_pixels, ignore_index)
    scored = scored_images(model, recipe, tune_samples, class_names, batch_size=batch_size,
                           progress=progress)  # fmt: skip
    for index, probs, target in scored:
        sample.add(probs[0], target[0], index)
    pixels = sample.pixels()
    sampled_at = time.perf_counter()
    tuning = cross_validated_offsets(pixels, folds)
    tuned_at = time.perf_counter()
    tune_split, report_split = splits
    record = {
        "classes": list(class_names),
        "offsets": dict(zip(class_names, (tuning.offsets + 0.0).tolist(), strict=True)),
        "tuned_on": tune_split,
        "images": len(tune_samples),
        "pixels_sampled": int(pixels.target.numel()),
        "pixels_in_split": int(sample.seen.sum().item()),
        "kept_share": tuning.shrink,
        "held_out_f1": {str(share): f1 for share, f1 in tuning.held_out_f1.items()},
        tune_split: {"argmax": tuning.f1_argmax, "f1": tuning.f1_tuned},
        "seconds": {"sample": sampled_at - started, "tune": tuned_at - sampled_at},
    }
    warn_if_thin(record, folds)
    if report_samples is not None:
        scored = scored_images(model, recipe, report_samples, class_names,
                               batch_size=batch_size, progress=progress)  # fmt: skip
        rules = {"argmax": None, "f1": tuning.offsets}
        matrices = confusions(scored, rules, len(class_names), ignore_index)
        record["reported_on"] = report_split
        record[report_split] = decoded_f1(matrices, class_names)
        record["seconds"]["report"] = time.perf_counter() - tuned_at
    return record


def warn_if_thin(record: dict, folds: int) -> None:
    """Offsets tuned on a handful of images fit those images: said, with what it needs and what
    was kept, and so is an offset that ran into the search's bound."""
    offsets, images = record["offsets"], record["images"]
    at_bound = [name for name, value in offsets.items() if abs(value) >= OFFSET_LIMIT]
    if images < MIN_TUNING_IMAGES_PER_FOLD * folds:
        log.warning(
            "decision offsets tuned on %s (%s pixels): too few to mean much; tuning needs about "
            "%d images (%d per held-out fold); kept %.2f of the tuned offsets (%s)",
            counted(images, "image"), f"{record['pixels_sampled']:,}",
            MIN_TUNING_IMAGES_PER_FOLD * folds, MIN_TUNING_IMAGES_PER_FOLD,
            record["kept_share"], _listed(offsets),
        )  # fmt: skip
    if at_bound and record["kept_share"] > 0:
        log.warning(
            "decision offsets of %s reached the search bound ±%g: the split gives them no "
            "evidence to stop at; check it holds every class",
            ", ".join(at_bound), OFFSET_LIMIT,
        )  # fmt: skip


def _listed(offsets: dict) -> str:
    return ", ".join(f"{name} {value:+.2f}" for name, value in offsets.items())


def decoded_f1(matrices: dict[str, Tensor], class_names: Sequence[str]) -> dict:
    """Mean foreground F1 per rule, and per class F1 under each with the class's pixel share."""
    result: dict = {rule: f1_from_confusion(m)[1] for rule, m in matrices.items()}
    rows = {rule: per_class_rows(m, class_names) for rule, m in matrices.items()}
    first = next(iter(rows.values()))
    result["per_class"] = {
        row["class"]: {"pixel_share": row["pixel_share"]}
        | {rule: rows[rule][i]["f1"] for rule in rows}
        for i, row in enumerate(first)
    }
    return result


def store_offsets(ckpt_path: str | Path, record: dict) -> None:
    """Add the offsets to the checkpoint (rewritten atomically: the weights stay as they are)."""
    offsets = [record["offsets"][name] for name in record["classes"]]
    checked_offsets(offsets, record["classes"], f"the offsets tuned for {ckpt_path}")
    checkpoint = load_checkpoint(ckpt_path)
    checkpoint[KEY] = {
        "classes": record["classes"],
        "offsets": offsets,
        "split": record["tuned_on"],
        "f1_before": record[record["tuned_on"]]["argmax"],
        "f1_after": record[record["tuned_on"]]["f1"],
        "kept_share": record["kept_share"],
    }
    save_torch(checkpoint, ckpt_path)


def write_record(record: dict, path: Path) -> None:
    if path.exists():
        log.info("replacing the earlier %s", path)
    write_json_atomic(path, record)


def decoding_table(record: dict) -> Table:
    """For a record with a report split (``reported_on``). Per class: pixel share, offset, and
    the report split's F1 under argmax and the offsets;
    the last row is the foreground mean."""
    split = record["reported_on"]
    scores = record[split]
    columns = [
        Column("class", align="left"),
        Column("pixels", "{:.2%}".format),
        Column("offset", "{:+.2f}".format),
        Column(f"{split} F1 argmax", decimals4),
        Column(f"{split} F1 tuned", decimals4),
    ]
    rows = [
        [name, row["pixel_share"], record["offsets"][name], row["argmax"], row["f1"]]
        for name, row in scores["per_class"].items()
    ]
    rows.append(["mean (foreground)", None, None, scores["argmax"], scores["f1"]])
    gain = scores["f1"] - scores["argmax"]
    title = (
        f"decision offsets tuned on {record['tuned_on']} ({record['pixels_sampled']} pixels, "
        f"{record['kept_share']:.2f} of the tuned offsets kept): {split} F1 "
        f"{scores['argmax']:.4f} with argmax, {scores['f1']:.4f} tuned ({gain:+.4f})"
    )
    return Table(columns, rows, title)


def within_limit(samples: Sequence, limit: int | float | None, batch_size: int) -> list:
    """The images a trainer's ``limit_val_batches``/``limit_test_batches`` let it see (an int:
    that many batches; a fraction: that share of them, at least one; ``fast_dev_run`` sets 1),
    so the calibration at the end of a shrunk run costs what its validation cost."""
    samples = list(samples)
    if limit is None or (isinstance(limit, float) and limit >= 1.0):
        return samples
    batches = -(-len(samples) // batch_size)
    kept = int(limit) if isinstance(limit, int) else max(1, int(limit * batches))
    return samples[: kept * batch_size]


def calibrate_trained(
    module: torch.nn.Module,
    datamodule,
    data_cfg: dict,
    ckpt_path: str | None,
    output_dir: Path,
    limits: tuple[int | float | None, int | float | None] = (None, None),
    progress: bool = False,
) -> dict:
    """The end of a training run (``calibrate: true``): the best weights' offsets tuned on val,
    test scored both ways, ``calibration.json`` written and the offsets stored in the best
    checkpoint; ``limits`` are the trainer's val and test batch limits. Returns the record."""
    recipe = recipe_of(data_cfg, module.hparams.mean, module.hparams.std)
    size = datamodule.eval_batch_size
    val = within_limit(datamodule.checked_samples("val"), limits[0], size)
    test = within_limit(datamodule.checked_samples("test"), limits[1], size)
    log.info("tuning decision offsets for F1 on %s, then scoring %s both ways",
             counted(len(val), "val image"), counted(len(test), "test image"))  # fmt: skip
    record = calibrate(
        module, recipe, module.class_names, val, test, datamodule.ignore_index,
        batch_size=size, progress=progress,
    )  # fmt: skip
    record["checkpoint"] = ckpt_path
    write_record(record, Path(output_dir) / "calibration.json")
    write_reports(record, Path(output_dir))
    if ckpt_path:
        store_offsets(ckpt_path, record)
    return record


def write_reports(record: dict, folder: Path) -> None:
    """``per_class_f1_decoding.png``, and the decision rule's section in ``diagnosis.md`` when
    the run wrote one (a section written before is replaced)."""
    save_figure(decoding_figure(record), folder / "per_class_f1_decoding.png")
    diagnosis = folder / "diagnosis.md"
    if diagnosis.is_file():
        text = diagnosis.read_text().split(SECTION)[0].rstrip("\n") + "\n"
        save_text(text + diagnosis_section(record), diagnosis)


def decoding_summary(record: dict) -> dict:
    """What a run's ``result.json`` keeps under ``decoding``."""
    return {
        "test_f1_argmax": record["test"]["argmax"],
        "test_f1_tuned": record["test"]["f1"],
        "val_f1_argmax": record["val"]["argmax"],
        "val_f1_tuned": record["val"]["f1"],
        "kept_share": record["kept_share"],
        "offsets": record["offsets"],
        "seconds": sum(record["seconds"].values()),
    }

"""Tune a checkpoint's decision rule for F1: one offset per class on the log-probabilities,
chosen on the validation split, scored against argmax on the test split.

``python -m seg_f1.calibrate ckpt_path=<ckpt> [data=<dataset>] [split=val] [report_split=test]``

The offsets go into the checkpoint (``decision_offsets``; ``store=false`` leaves it as it is) and,
with F1 before and after, into ``calibration.json`` in the checkpoint's run directory (an
earlier one is kept as ``calibration.<its time>.json``). Then
``decode=f1`` (or ``both``) in evaluate, predict and export uses them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import hydra
from omegaconf import DictConfig

from seg_f1 import CONF_DIR
from seg_f1.config.checkpoint_data import use_checkpoint_data
from seg_f1.inference.calibration import (
    calibrate,
    decoding_table,
    store_offsets,
    write_record,
    write_reports,
)
from seg_f1.inference.model import load_model
from seg_f1.inference.scoring import check_classes
from seg_f1.report.tables import print_table
from seg_f1.runs.directory import announced, hydra_run_dir

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    """Calibrate and record; returns what ``calibration.json`` holds."""
    ckpt_path = Path(cfg.ckpt_path).expanduser()
    model, recipe = load_model(ckpt_path)
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    check_classes(model.class_names, datamodule.class_names, ckpt_path)
    datamodule.prepare_data()
    tune = datamodule.checked_samples(cfg.split)
    report = datamodule.checked_samples(cfg.report_split) if cfg.get("report_split") else None
    record = calibrate(
        model, recipe, model.class_names, tune, report, datamodule.ignore_index,
        cfg.max_pixels, cfg.folds, cfg.batch_size, cfg.progress, (cfg.split, cfg.report_split),
    )  # fmt: skip
    record["checkpoint"] = str(ckpt_path)
    out = Path(cfg.output_dir).expanduser() if cfg.get("output_dir") else run_dir_of(ckpt_path)
    set_aside(out / "calibration.json")
    write_record(record, out / "calibration.json")
    if report is not None:
        write_reports(record, out)
    if cfg.store:
        store_offsets(ckpt_path, record)
        log.info("stored the offsets in %s (decision_offsets)", ckpt_path)
    if report is not None:
        print_table(decoding_table(record))
    log.info("wrote %s", out / "calibration.json")
    return record


def set_aside(record: Path) -> None:
    """An earlier calibration's record (the run's own, from the end of training) is renamed,
    not overwritten: it holds the offsets the checkpoint carried until now."""
    if not record.is_file():
        return
    stamp = datetime.fromtimestamp(record.stat().st_mtime).strftime("%Y-%m-%d_%H-%M-%S")
    kept = record.with_name(f"{record.stem}.{stamp}.json")
    record.rename(kept)
    log.info("kept the earlier %s as %s", record.name, kept)


def run_dir_of(ckpt_path: Path) -> Path:
    """``<run>/checkpoints/best.ckpt`` -> ``<run>``; a checkpoint elsewhere -> its folder."""
    folder = ckpt_path.resolve().parent
    return folder.parent if folder.name == "checkpoints" else folder


@hydra.main(config_path=str(CONF_DIR), config_name="calibrate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with announced("calibrate", hydra_run_dir()):
        use_checkpoint_data(cfg)
        run(cfg)


if __name__ == "__main__":
    main()

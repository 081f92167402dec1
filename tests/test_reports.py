"""Run-directory figures and tables: produced, valid PNGs of a sane size, numbers that add up."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import MLFlowLogger
from PIL import Image

from seg_f1.callbacks.replay import newest_training_run, project_root, replay
from seg_f1.inference.model import load_model
from seg_f1.metrics import per_class_rows
from seg_f1.report import palette as palettes
from seg_f1.report.palette import colourise, legend_picture, palette
from seg_f1.report.runs import curves_markdown
from seg_f1.training import train

ROOT = Path(__file__).resolve().parents[1]

FIGURES = ("curves.png", "per_class_f1.png", "confusion.png", "predictions.png")


def test_per_class_rows_by_hand():
    # rows target, cols prediction: class 1 has TP 3, FN 1 (as 2), FP 2 (from 2)
    confmat = torch.tensor([[5, 0, 0], [0, 3, 1], [0, 2, 4]])
    rows = per_class_rows(confmat, ["background", "a", "b"])
    assert rows[1]["precision"] == pytest.approx(3 / 5)
    assert rows[1]["recall"] == pytest.approx(3 / 4)
    assert rows[1]["f1"] == pytest.approx(6 / 9)
    assert rows[1]["iou"] == pytest.approx(3 / 6)
    assert rows[2]["f1"] == pytest.approx(8 / 11)
    assert rows[0]["pixel_share"] == pytest.approx(5 / 15)


def test_curves_markdown_has_one_row_per_epoch():
    text = curves_markdown([{"epoch": 0, "train/loss": 1.0, "val/f1": 0.25}])
    assert "| 1 | 1.0000 | - | - | 0.2500 |" in text  # the first epoch, as the epoch line says


def test_palette_is_fixed_by_name_and_255_is_white():
    assert (palette(["hair", "skin"])[0] == palette(["skin", "hair"])[1]).all()
    rgb = colourise(torch.tensor([[0, 1], [255, 1]]).numpy(), ["background", "skin"])
    assert rgb.shape == (2, 2, 3) and tuple(rgb[1, 0]) == (255, 255, 255)


def test_legend_png_shows_every_class_colour_and_the_background_as_an_empty_box():
    names = ["background", "skin", "hair", "my_class"]  # a class of one's own: a seeded colour
    picture = legend_picture(names)
    row = 28  # a line for the title, then one per class, the background first
    assert picture.shape[0] == (len(names) + 1) * row and picture.dtype == np.uint8
    for c, colour in enumerate(palette(names)[1:], start=1):
        swatch = picture[(c + 1) * row + row // 2, row // 2]  # the swatch's centre
        assert tuple(swatch) == tuple(colour), names[c]
    box = picture[row : 2 * row, : row + 1]
    assert tuple(box[row // 2, row // 2]) == (255, 255, 255)  # empty inside: the photo's place
    assert (box[:, row // 4] == 0).all(axis=1).any()  # its black edge


def test_an_overlay_in_bands_or_in_place_is_the_whole_photo_blend(monkeypatch):
    """Bands of 7 rows over 30: the colours of the mask blended with the photo, its background
    the photo's own, as one cv2.addWeighted of the whole photo gives; in place, in the photo."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)
    mask = rng.integers(0, 4, (30, 20), dtype=np.uint8)
    mask[0, 0] = 255
    names = ["background", "skin", "hair", "nose"]
    whole = cv2.addWeighted(photo, 0.5, colourise(mask, names), 0.5, 0.0)
    whole[mask == 0] = photo[mask == 0]
    monkeypatch.setattr(palettes, "BAND_PIXELS", 7 * 20)
    assert np.array_equal(palettes.overlay(np.asfortranarray(photo), mask, names), whole)
    mine = photo.copy()
    assert palettes.overlay(mine, mask, names, in_place=True) is mine
    assert np.array_equal(mine, whole)
    counts = palettes.class_counts(mask, len(names))
    assert counts.tolist() == np.bincount(mask.ravel(), minlength=256)[:4].tolist()


@pytest.mark.slow
def test_a_run_writes_every_report_and_logs_them_to_tensorboard(compose_cfg, tmp_path):
    cfg = compose_cfg("trainer.max_epochs=2", "logger=tensorboard")
    train(cfg)
    for name in FIGURES:
        with Image.open(tmp_path / name) as image:
            image.verify()
            assert image.format == "PNG" and 200 <= image.width <= 3000
            assert 200 <= image.height <= 3000
    with open(tmp_path / "per_class_f1.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["class"] for row in rows] == list(cfg.data.classes)
    assert math.isclose(sum(float(row["pixel_share"]) for row in rows), 1.0, rel_tol=1e-6)
    assert (tmp_path / "curves.md").read_text().count("\n| ") == 2  # header and 2 epochs
    model, recipe = load_model(tmp_path / "checkpoints" / "last.ckpt")  # weights_only suffices
    assert model.class_names == list(cfg.data.classes) and recipe.image_size == 32
    events = list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and max(path.stat().st_size for path in events) > 10_000  # images inside


def test_logger_many_builds_csv_tensorboard_and_mlflow(compose_cfg, tmp_path):
    cfg = compose_cfg("logger=many")
    loggers = [hydra.utils.instantiate(c) for c in cfg.logger.values()]
    kinds = sorted(type(logger).__name__ for logger in loggers)
    assert kinds == ["GuardedMLFlowLogger", "ResumableCSVLogger", "TensorBoardLogger"]
    mlflow = next(logger for logger in loggers if isinstance(logger, MLFlowLogger))
    mlflow.log_metrics({"val/f1": 0.5}, step=0)
    history = mlflow.experiment.get_metric_history(mlflow.run_id, "val/f1")
    assert [m.value for m in history] == [0.5] and (tmp_path / "mlflow.db").is_file()


@pytest.mark.slow
def test_a_run_diagnoses_its_curves_and_the_notebook_replays_them(
    compose_cfg, tmp_path, monkeypatch
):
    import nbformat
    from nbclient import NotebookClient

    train(compose_cfg("trainer.max_epochs=3", "callbacks.curve_diagnosis.window=2"))
    report = (tmp_path / "diagnosis.md").read_text()
    assert "Window: 2 epochs" in report and "| 2 |" in report
    with open(tmp_path / "metrics.csv") as handle:
        cases = [float(row["diag/case"]) for row in csv.DictReader(handle) if row["diag/case"]]
    assert len(cases) == 2 and set(cases) <= set(range(6))  # epochs 1 and 2; none at epoch 0
    replayed = [(epoch, v.case) for epoch, v in replay(tmp_path) if v is not None]
    recorded = json.loads((tmp_path / "diagnosis.json").read_text())
    assert recorded["window"] == 2 and recorded["thresholds"]["loss_tol"] == 0.01
    assert replayed == [(v["epoch"], v["case"]) for v in recorded["verdicts"]]
    for epoch, case in replayed:  # and the markdown table's rows say the same, counted from 1
        assert f"| {epoch + 1} | {case} |" in report
    assert f"Final verdict (epoch 3): case {replayed[-1][1]}" in report  # the last of three
    notebook = nbformat.read(ROOT / "notebooks" / "loss_vs_f1.ipynb", as_version=4)
    monkeypatch.setenv("RUN_DIR", str(tmp_path))
    where = {"metadata": {"path": str(ROOT / "notebooks")}}  # Jupyter's default folder
    NotebookClient(notebook, timeout=300, resources=where).execute()  # imports Lightning
    outputs = "".join(
        out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", [])
    )
    assert "no verdict yet" in outputs and "# Curve diagnosis" in outputs
    assert any(f"case {case}:" in outputs for case in range(6))


def test_the_notebook_finds_the_project_from_any_folder_and_the_newest_training_run(tmp_path):
    assert project_root(ROOT / "notebooks") == ROOT and project_root(ROOT / "seg_f1") == ROOT
    with pytest.raises(FileNotFoundError, match="no seg_f1 project"):
        project_root(tmp_path)
    outputs = tmp_path / "outputs"
    for name, files in [("runs/old", ("metrics.csv", "diagnosis.json")),
                        ("runs/new", ("metrics.csv", "diagnosis.json")),
                        ("evaluate/newer", ("metrics.csv",))]:  # fmt: skip
        for file in files:
            (outputs / name).mkdir(parents=True, exist_ok=True)
            (outputs / name / file).write_text("")
    os.utime(outputs / "runs/old/metrics.csv", (1, 1))
    assert newest_training_run(tmp_path) == outputs / "runs" / "new"

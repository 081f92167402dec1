"""A table printed to a file or pipe (a log, ``| tee``, CI) keeps every column whole: Rich
would cut a non-terminal console at 80 columns and wrap or ellipsise the cells."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest
from conftest import ROOT, run_env
from inference_fixtures import write_checkpoint

from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.report.tables import decimals4, print_table, record_table

HEADER = ("index", "class", "pixel_share", "precision", "recall", "f1", "iou", "f1_tuned")


def wide_records() -> list[dict]:
    """Evaluate's rows with decode=both: eight columns, wider than 80 columns together."""
    rows = [dict(zip(HEADER, (i, name, *[0.1234 + i / 100] * 6), strict=True))
            for i, name in enumerate(CLASSES)]  # fmt: skip
    return [*rows, dict(zip(HEADER, ("", "mean (foreground)", *[0.5678] * 6), strict=True))]


def test_a_table_printed_to_a_file_keeps_every_cell_on_one_line(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # Rich's non-terminal default: 80 columns
    records = wide_records()
    title = "test: 2,000 images (3 unreadable, left out), tta=flip, original size, decode=both"
    out = io.StringIO()
    print_table(record_table(records, title), file=out)
    text = out.getvalue()
    assert "…" not in text
    lines = text.splitlines()
    assert max(len(line) for line in lines) > 80  # wider than Rich's default, not cut to it
    assert title in text  # on one line
    for record in records:
        (line,) = [line for line in lines if f" {record['class']} " in line]
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        assert cells == [str(record["index"]), record["class"],
                         *(decimals4(v) for v in list(record.values())[2:])]  # fmt: skip


def test_a_table_printed_to_a_narrow_file_is_not_cut_to_its_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    out = io.StringIO()
    print_table(record_table(wide_records()), file=out)
    assert "…" not in out.getvalue() and "mean (foreground)" in out.getvalue()


@pytest.mark.slow
def test_evaluate_piped_prints_every_class_and_number_whole(tmp_path, data_dir):
    ckpt = write_checkpoint(tmp_path / "model.ckpt")
    out = tmp_path / "eval"
    command = [sys.executable, "-m", "seg_f1.evaluate", f"ckpt_path={ckpt}", "tta=flip",
               "eval_at_original_size=true", f"paths.data_dir={data_dir}",
               f"hydra.run.dir={out}", "data.image_size=32", "data.source.num_train=8",
               "data.source.num_val=4", "data.source.num_test=4"]  # fmt: skip
    env = {k: v for k, v in run_env().items() if k != "COLUMNS"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "…" not in result.stdout
    lines = result.stdout.splitlines()
    with (out / "evaluation.csv").open() as file:
        rows = list(csv.DictReader(file))
    for row in rows:  # each class's row on one line, with each of its numbers as written
        found = [line for line in lines if f" {row['class']} " in line]
        assert len(found) == 1, (row["class"], result.stdout)
        line = found[0]
        for key in ("pixel_share", "precision", "recall", "f1", "iou"):
            assert f" {decimals4(float(row[key]))} " in line, (key, line)

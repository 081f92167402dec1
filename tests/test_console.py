"""What a user sees in the terminal: a final table readable at 80 columns, and a tiny run's
output free of messages the user cannot act on."""

from __future__ import annotations

import io
import logging
import sys

import pytest
import torch
from rich.console import Console
from test_sweeps import run_train

from seg_f1.callbacks.console import emit, epoch_line
from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES as CLASSES
from seg_f1.report.runs import f1_table
from seg_f1.report.tables import rich_table


def test_the_final_f1_table_reads_at_80_columns():
    confmat = torch.eye(19, dtype=torch.long) * 1000 + 3
    console = Console(width=80, record=True, color_system=None)
    console.print(rich_table(f1_table(confmat, list(CLASSES), "test")))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    (title,) = [line for line in lines if "F1 per class" in line]
    assert "(mean over foreground: 0.9489)" in title  # 2·1003 / (2·1003 + 2·18·3), on one line
    assert sum("neck_l" in line for line in lines) == 1


UNACTIONABLE = ("💡 Tip", "litlogger", "litmodels", "exists and is not empty", "FLOPs",
                "already configured with model summary")  # fmt: skip
# TINY drops the bar; this run puts the configured one back
WITH_PROGRESS_BAR = "+callbacks.progress_bar._target_=seg_f1.callbacks.console.ProgressBar"


@pytest.mark.slow
def test_a_tiny_run_prints_nothing_the_user_cannot_act_on(tmp_path, data_dir):
    result = run_train(
        f"hydra.run.dir={tmp_path / 'run'}", WITH_PROGRESS_BAR, "trainer.max_epochs=2",
        data_dir=data_dir, COLUMNS="80",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    for message in UNACTIONABLE:
        assert message not in output, message
    assert "F1 per class (mean over foreground:" in result.stdout
    assert "Total params: 14.3 M" in result.stdout  # the module summary, without FLOPs
    # the bar's last frame: batches, loss and both F1s on one line of at most 80 columns
    # epochs counted from 1, as the epoch line says them: the second of two
    (bar,) = [line for line in result.stdout.splitlines() if line.startswith("Epoch 2/2")]
    assert len(bar.rstrip()) <= 80, bar
    for shown in ("2/2", "loss: ", "val/f1: ", "train/f1: "):
        assert shown in bar, (shown, bar)


def test_the_epoch_line_reads_the_numbers_and_counts_epochs_from_one():
    metrics = {"train/loss": 0.5, "train/f1": 0.25, "val/loss": 0.75, "val/f1": 0.125}
    line = epoch_line(2, 10, metrics, 3e-4, 12.34)
    assert line == (
        "epoch 3/10: train loss 0.5000 F1 0.2500 | val loss 0.7500 F1 0.1250 | lr 0.0003 | 12.3 s"
    )


def test_on_a_terminal_the_epoch_line_goes_to_the_log_file_only(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.INFO)  # as Hydra's job logging sets it

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    to_file, to_console = (
        logging.FileHandler(tmp_path / "train.log"),
        logging.StreamHandler(screen := io.StringIO()),
    )
    root.addHandler(to_file), root.addHandler(to_console)
    try:
        monkeypatch.setattr(sys, "stdout", Terminal())
        emit("epoch 1/1: on a terminal")
        monkeypatch.setattr(sys, "stdout", io.StringIO())
        emit("epoch 1/1: redirected")
    finally:
        root.removeHandler(to_file), root.removeHandler(to_console), to_file.close()
    logged = (tmp_path / "train.log").read_text()
    assert "on a terminal" in logged and "redirected" in logged
    assert "on a terminal" not in screen.getvalue() and "redirected" in screen.getvalue()

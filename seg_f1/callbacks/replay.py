"""What ``notebooks/loss_vs_f1.ipynb`` reads, from any working folder: the project root, the
newest training run, its curves per epoch from ``metrics.csv``, and the curve diagnosis replayed
with the window and thresholds that run's ``diagnosis.json`` records."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from seg_f1.callbacks.diagnosis import Thresholds, Verdict, classify, lr_share
from seg_f1.callbacks.history import CURVE_KEYS

MARKER = Path("conf") / "config.yaml"


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (the working folder) holding ``conf/``; Jupyter
    starts a kernel in the notebook's own folder."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / MARKER).is_file() and (folder / "seg_f1").is_dir():
            return folder
    raise FileNotFoundError(f"no seg_f1 project (a folder with {MARKER}) at or above {start}")


def newest_training_run(root: Path) -> Path:
    """The training run (it writes ``diagnosis.json``; tools such as evaluate or export do not)
    under ``root/outputs`` whose ``metrics.csv`` changed last."""
    runs = [p.parent for p in (root / "outputs").rglob("diagnosis.json")]
    runs = [run for run in runs if (run / "metrics.csv").is_file()]
    if not runs:
        raise FileNotFoundError(f"no training run (diagnosis.json + metrics.csv) under {root}")
    return max(runs, key=lambda run: (run / "metrics.csv").stat().st_mtime)


def epoch_curves(run_dir: Path) -> dict[int, dict[str, float]]:
    """Per epoch, the four curves' values (``metrics.csv`` has one row per log call)."""
    epochs: dict[int, dict[str, float]] = {}
    with open(run_dir / "metrics.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            for key in CURVE_KEYS:
                if row.get(key):
                    epochs.setdefault(int(row["epoch"]), {})[key] = float(row[key])
    return dict(sorted(epochs.items()))


def diagnosis_settings(run_dir: Path) -> tuple[int, Thresholds, dict[int, float]]:
    """Window, thresholds and each epoch's learning rate (none in a run written before the
    diagnosis knew the schedule: it is then replayed without case 5)."""
    settings = json.loads((run_dir / "diagnosis.json").read_text())
    epoch_lr = {int(e): float(lr) for e, lr in settings.get("epoch_lr", {}).items()}
    return int(settings["window"]), Thresholds(**settings["thresholds"]), epoch_lr


def replay(run_dir: Path) -> list[tuple[int, Verdict | None]]:
    """The verdict after each epoch, as the run's ``CurveDiagnosis`` gave it."""
    window, thresholds, epoch_lr = diagnosis_settings(run_dir)
    epochs = epoch_curves(run_dir)
    history = {key: [epochs[e].get(key, math.nan) for e in epochs] for key in CURVE_KEYS}
    return [
        (epoch, classify({k: v[: i + 1] for k, v in history.items()}, window, thresholds, epoch,
                         lr_share(epoch_lr, epoch)))
        for i, epoch in enumerate(epochs)
    ]  # fmt: skip

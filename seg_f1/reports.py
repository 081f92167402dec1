"""Run-directory reports: figures as PNG and the numbers behind them as markdown and CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from seg_f1.io import write_atomically
from seg_f1.metrics import f1_from_confusion


def _replace(path: Path, data: bytes) -> None:
    write_atomically(path, lambda tmp: tmp.write_bytes(data))


def save_figure(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    _replace(path, buffer.getvalue())
    return path


def save_text(text: str, path: Path) -> Path:
    _replace(path, text.encode())
    return path


def curves_markdown(rows: list[dict[str, float]]) -> str:
    """One row per epoch, loss and F1 per split."""
    keys = ("train/loss", "train/f1", "val/loss", "val/f1")
    lines = ["| epoch | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for row in rows:
        cells = [_fmt(row.get(key, math.nan)) for key in keys]
        lines.append(f"| {int(row['epoch'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4f}"


def per_class_rows(confmat: torch.Tensor, class_names: Sequence[str]) -> list[dict]:
    """Per class: pixel share of the target, precision, recall, F1, IoU (NaN where undefined)."""
    confmat = confmat.double()
    tp = confmat.diag()
    support, predicted = confmat.sum(1), confmat.sum(0)
    per_class_f1, _ = f1_from_confusion(confmat, ignore_background=True)
    rows = []
    for i, name in enumerate(class_names):
        rows.append(
            {
                "index": i,
                "class": name,
                "pixel_share": (support[i] / support.sum().clamp(min=1)).item(),
                "precision": _ratio(tp[i], predicted[i]),
                "recall": _ratio(tp[i], support[i]),
                "f1": per_class_f1[i].item(),
                "iou": _ratio(tp[i], support[i] + predicted[i] - tp[i]),
            }
        )
    return rows


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> float:
    return (numerator / denominator).item() if denominator > 0 else math.nan


def rows_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def rows_markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|---" * len(keys) + "|"]
    for row in rows:
        cells = [_fmt(v) if isinstance(v, float) else str(v) for v in row.values()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

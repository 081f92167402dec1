"""Report files are written whole or not at all (``seg_f1.runs.io.write_atomically``)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from seg_f1.runs.io import write_atomically

if TYPE_CHECKING:  # matplotlib is loaded by whoever draws a figure: predict's masks need none
    from matplotlib.figure import Figure


def save_bytes(data: bytes, path: Path) -> Path:
    """A full disk or an unwritable folder raises ``WriteFailed`` naming ``path`` and the bytes
    it needed; the file already there stays as it was."""
    write_atomically(path, lambda tmp: tmp.write_bytes(data), needed=len(data))
    return path


def save_figure(fig: Figure, path: Path) -> Path:
    """As a 100-dpi PNG; the figure is closed, so a long sweep does not pile them up."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return save_bytes(buffer.getvalue(), path)


def save_text(text: str, path: Path) -> Path:
    return save_bytes(text.encode(), path)

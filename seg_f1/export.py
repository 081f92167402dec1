"""ONNX export with dynamic batch, height and width, and the model's class names, palette,
mean/std and sizes in its ``metadata_props``; checked against onnxruntime at two sizes before it
is kept.

``python -m seg_f1.export ckpt_path=<ckpt> output=model.onnx [tolerance=1e-4]``
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from seg_f1 import CONF_DIR
from seg_f1.inference.model import load_model
from seg_f1.inference.onnx_export import export_onnx, parity, parity_sizes, size_multiple

log = logging.getLogger(__name__)


def steps_progress(disable: bool) -> Progress:
    """A transient spinner and step count: the export and its parity runs take seconds each."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn()]
    return Progress(*columns, transient=True, disable=disable)


def run(cfg: DictConfig) -> float:
    model, recipe = load_model(cfg.ckpt_path)
    output = Path(cfg.output).expanduser()
    size, larger = parity_sizes(recipe, size_multiple(model))
    checks = [(size, size, cfg.parity_batch), (size, larger, cfg.parity_batch + 1)]
    differences = []
    with steps_progress(disable=not cfg.progress) as progress:
        step = progress.add_task("exporting to ONNX", total=1 + len(checks))
        export_onnx(model, recipe, output, cfg.opset)
        for height, width, batch in checks:
            what = f"onnxruntime vs torch at {height}x{width}"
            progress.update(step, advance=1, description=what, refresh=True)
            differences.append(parity(model, output, height, width, batch))
        progress.update(step, advance=1)
    difference = max(differences)
    print(
        f"onnxruntime vs torch: max abs logit difference {difference:.3e} "
        f"(batch {cfg.parity_batch} at {size}x{size}, batch {cfg.parity_batch + 1} at "
        f"{size}x{larger})"
    )
    if not difference <= cfg.tolerance:
        raise RuntimeError(
            f"{output}: onnxruntime logits differ from torch by {difference:.3e}, more than "
            f"tolerance={cfg.tolerance}"
        )
    return difference


@hydra.main(config_path=str(CONF_DIR), config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> float:
    return run(cfg)


if __name__ == "__main__":
    main()

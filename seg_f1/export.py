"""ONNX export with dynamic batch, height and width, and the model's class names, palette,
mean/std and sizes in its ``metadata_props``; checked against onnxruntime at two sizes before it
is kept.

``python -m seg_f1.export ckpt_path=<ckpt> output=model.onnx [tolerance=1e-4]``
(``tolerance`` is relative: the largest logit difference over the largest logit)
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from seg_f1 import CONF_DIR
from seg_f1.inference.model import load_model
from seg_f1.inference.onnx_export import (
    Parity,
    export_onnx,
    parity,
    parity_sizes,
    size_multiple,
)
from seg_f1.runs.directory import announced, hydra_run_dir

log = logging.getLogger(__name__)


def steps_progress(disable: bool) -> Progress:
    """A transient spinner and step count: the export and its parity runs take seconds each."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn()]
    return Progress(*columns, transient=True, disable=disable)


def run(cfg: DictConfig) -> float:
    """Export, then check the written file at two sizes; it replaces ``output`` only if the
    relative logit difference is within ``tolerance``. Returns that relative difference."""
    model, recipe = load_model(cfg.ckpt_path)
    output = Path(cfg.output).expanduser()
    size, larger = parity_sizes(recipe, size_multiple(model))
    checks = [(size, size, cfg.parity_batch), (size, larger, cfg.parity_batch + 1)]
    worst: list[Parity] = []  # filled by check: the run with the largest relative difference
    with steps_progress(disable=not cfg.progress) as progress:
        step = progress.add_task("exporting to ONNX", total=1 + len(checks))

        def check(written: Path) -> None:
            results = []
            for height, width, batch in checks:
                what = f"onnxruntime vs torch at {height}x{width}"
                progress.update(step, advance=1, description=what, refresh=True)
                results.append(parity(model, written, height, width, batch))
            progress.update(step, advance=1)
            worst.append(max(results, key=lambda r: r.relative))
            if not worst[0].relative <= cfg.tolerance:
                raise RuntimeError(
                    f"{output}: onnxruntime logits differ from torch by "
                    f"{describe(worst[0])}, more than tolerance={cfg.tolerance} (relative); "
                    f"{output} was not written. Raise tolerance= if this error is acceptable."
                )

        export_onnx(model, recipe, output, cfg.opset, check=check)
    print(
        f"onnxruntime vs torch: {describe(worst[0])} (batch {cfg.parity_batch} at "
        f"{size}x{size}, batch {cfg.parity_batch + 1} at {size}x{larger})"
    )
    print(f"wrote {output}")
    return worst[0].relative


def describe(result: Parity) -> str:
    return (
        f"{result.relative:.2e} of the largest logit (max abs difference "
        f"{result.difference:.3e}, largest abs logit {result.largest:.4g})"
    )


@hydra.main(config_path=str(CONF_DIR), config_name="export", version_base="1.3")
def main(cfg: DictConfig) -> float:
    with announced("export", hydra_run_dir()):
        return run(cfg)


if __name__ == "__main__":
    main()

"""ONNX export with dynamic batch, height and width, and the model's class names, palette,
mean/std and sizes in its ``metadata_props``; checked against onnxruntime at two sizes before it
is kept.

``python -m seg_f1.export ckpt_path=<ckpt> output=model.onnx [tolerance=1e-4]``
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from seg_f1 import CONF_DIR
from seg_f1.inference import InputRecipe, load_model
from seg_f1.io import write_atomically
from seg_f1.onnx_model import DYNAMIC_AXES, INPUT, OUTPUT, OnnxModel, metadata

log = logging.getLogger(__name__)


def export_onnx(model: torch.nn.Module, recipe: InputRecipe, path: Path, opset: int = 17) -> None:
    """The legacy exporter: one self-contained file, no onnxscript needed."""
    import onnx

    example = torch.zeros(1, 3, recipe.image_size, recipe.image_size)
    props = metadata(model.class_names, recipe, size_multiple(model))

    def export(tmp: Path) -> None:
        torch.onnx.export(
            model, (example,), str(tmp), input_names=[INPUT], output_names=[OUTPUT],
            dynamic_axes=DYNAMIC_AXES, opset_version=opset, dynamo=False,
        )  # fmt: skip
        graph = onnx.load(str(tmp))
        onnx.helper.set_model_props(graph, props)
        onnx.save(graph, str(tmp))

    write_atomically(path, export)


def size_multiple(model: torch.nn.Module) -> int:
    """Heights and widths the network takes are multiples of its encoder's output stride."""
    return int(model.net.encoder.output_stride)


def parity_sizes(recipe: InputRecipe, multiple: int) -> tuple[int, int]:
    """The training size and a larger one that is not square, so a fixed shape would fail."""
    return recipe.image_size, recipe.image_size + 2 * multiple


def parity(model: torch.nn.Module, path: Path, height: int, width: int, batch: int = 2) -> float:
    """Max absolute logit difference between torch and onnxruntime on a random batch."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, height, width, generator=generator)
    with torch.no_grad():
        expected = model(images).numpy()
    got = OnnxModel(path)(images).numpy()
    return float(np.abs(got - expected).max())


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

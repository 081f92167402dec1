"""A checkpoint written as ONNX (dynamic batch, height and width; the deployer's metadata in
``metadata_props``) and compared with torch through onnxruntime."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from seg_f1.inference.onnx_model import DYNAMIC_AXES, INPUT, OUTPUT, OnnxModel, metadata
from seg_f1.inference.recipe import InputRecipe
from seg_f1.runs.io import write_atomically


def export_onnx(
    model: torch.nn.Module,
    recipe: InputRecipe,
    path: Path,
    opset: int = 17,
    check: Callable[[Path], None] | None = None,
) -> None:
    """The legacy exporter: one self-contained file, no onnxscript needed (its deprecation
    warning is not the user's to act on, so it is not shown). ``check(tmp)`` runs on the written
    file before it replaces ``path``: a file that fails it never lands, and a previous one stays."""
    import onnx

    example = torch.zeros(1, 3, recipe.image_size, recipe.image_size)
    props = metadata(model.class_names, recipe, size_multiple(model))
    offsets = getattr(model, "decision_offsets", None)
    if offsets is not None:  # decode=f1 in predict backend=onnx; any runtime: argmax(logits + b)
        props["decision_offsets"] = json.dumps(offsets.tolist())

    def export(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "You are using the legacy", DeprecationWarning)
            torch.onnx.export(
                model, (example,), str(tmp), input_names=[INPUT], output_names=[OUTPUT],
                dynamic_axes=DYNAMIC_AXES, opset_version=opset, dynamo=False,
            )  # fmt: skip
        graph = onnx.load(str(tmp))
        onnx.helper.set_model_props(graph, props)
        onnx.save(graph, str(tmp))
        if check is not None:
            check(tmp)

    write_atomically(path, export)


def size_multiple(model: torch.nn.Module) -> int:
    """Heights and widths the network takes are multiples of its encoder's output stride."""
    return int(model.net.encoder.output_stride)


def parity_sizes(recipe: InputRecipe, multiple: int) -> tuple[int, int]:
    """The training size and a larger one that is not square, so a fixed shape would fail."""
    return recipe.image_size, recipe.image_size + 2 * multiple


class Parity(NamedTuple):
    """The largest logit difference and the largest logit: float error grows with the logits'
    scale (a trained model's reach the hundreds), so the tolerance is relative to it."""

    difference: float
    largest: float

    @property
    def relative(self) -> float:
        return self.difference / max(self.largest, 1e-12)


def parity(model: torch.nn.Module, path: Path, height: int, width: int, batch: int = 2) -> Parity:
    """torch against onnxruntime on a random batch."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, height, width, generator=generator)
    with torch.no_grad():
        expected = model(images).numpy()
    got = OnnxModel(path)(images.numpy())
    return Parity(float(np.abs(got - expected).max()), float(np.abs(expected).max()))

"""ONNX export with a dynamic batch size, checked against onnxruntime before it is kept.

``python -m seg_f1.export ckpt_path=<ckpt> output=model.onnx [tolerance=1e-3]``
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from seg_f1 import CONF_DIR
from seg_f1.inference import load_model
from seg_f1.io import write_atomically

log = logging.getLogger(__name__)


def export_onnx(model: torch.nn.Module, image_size: int, path: Path, opset: int = 17) -> None:
    """The legacy exporter: one self-contained file, no onnxscript needed."""
    example = torch.zeros(1, 3, image_size, image_size)

    def export(tmp: Path) -> None:
        torch.onnx.export(
            model, (example,), str(tmp), input_names=["image"], output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
            dynamo=False,
        )  # fmt: skip

    write_atomically(path, export)


def parity(model: torch.nn.Module, path: Path, image_size: int, batch: int = 2) -> float:
    """Max absolute logit difference between torch and onnxruntime on a random batch."""
    import onnxruntime

    images = torch.randn(
        batch, 3, image_size, image_size, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        expected = model(images).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"image": images.numpy()})
    return float(np.abs(got - expected).max())


def run(cfg: DictConfig) -> float:
    model, recipe = load_model(cfg.ckpt_path)
    output = Path(cfg.output).expanduser()
    export_onnx(model, recipe.image_size, output, cfg.opset)
    difference = parity(model, output, recipe.image_size, cfg.parity_batch)
    print(
        f"onnxruntime vs torch: max abs logit difference {difference:.3e} "
        f"(batch {cfg.parity_batch})"
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

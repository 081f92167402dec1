"""Compute class weights from a dataset's training masks and write them next to the dataset.

    python -m seg_f1.class_weights data=synthetic method=median_freq [beta=0.999]

``method`` is one of inverse, median_freq (default), enet, effective_number; ``beta`` is
used by effective_number only. Neither key is part of the training config, so the command
line is rewritten to Hydra's ``++method=...`` / ``++beta=...`` (add or override) before Hydra
parses it; ``+method=`` and ``++method=`` work too.

Only the training split is counted. The result is ``<data_root>/class_weights.pt`` (a plain
tensor) and ``<data_root>/class_weights.json`` (per class: pixels, frequency, images,
weight); train with it through ``loss.class_weights=<data_root>/class_weights.pt``.
"""

from __future__ import annotations

import sys

import hydra
import numpy as np
from omegaconf import DictConfig
from rich.console import Console

from seg_f1 import CONF_DIR, counted
from seg_f1.data.pixel_counts import ClassCounts, count_pixels
from seg_f1.losses.class_weights import compute_class_weights, save_class_weights
from seg_f1.report.tables import Column, Table, print_table

_OWN_KEYS = ("method", "beta")


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    method = cfg.get("method", "median_freq")
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    names = datamodule.class_names
    counts = count_pixels(
        datamodule.train_mask_paths(), len(names), datamodule.ignore_index,
        colors=datamodule.label_colors,
    )  # fmt: skip
    weights = compute_class_weights(counts, method, beta=cfg.get("beta", 0.999), class_names=names)
    pt_path, json_path = save_class_weights(weights, counts, names, method, datamodule.data_root)
    console = Console()
    print_table(weights_table(names, counts, weights, method))
    console.print(f"wrote {pt_path} and {json_path}")


def weights_table(names: list[str], counts: ClassCounts, weights: np.ndarray, method: str) -> Table:
    columns = [
        Column("index"),
        Column("class", align="left"),
        Column("pixels", "{:,}".format),
        Column("frequency", "{:.4%}".format),
        Column("images"),
        Column("weight", "{:.3f}".format),
    ]
    rows = [
        [index, name, counts.pixels[index], counts.frequency[index],
         counts.images_with_class[index], weights[index]]
        for index, name in enumerate(names)
    ]  # fmt: skip
    return Table(
        columns, rows, f"{method} class weights over {counted(counts.num_images, 'training mask')}"
    )


def as_hydra_additions(argv: list[str]) -> list[str]:
    """``method=x`` -> ``++method=x``: this tool's keys are not in the training config."""
    return ["++" + arg if arg.split("=", 1)[0] in _OWN_KEYS else arg for arg in argv]


if __name__ == "__main__":
    sys.argv = as_hydra_additions(sys.argv)
    main()

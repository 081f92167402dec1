"""What a dataset holds, before training on it: ``python -m seg_f1.dataset_stats data=lapa
data.root=/data/LaPa [+stats_path=stats.json]``.

Per split and class: pixel frequency, the share of images containing the class and its mean area
where present; the image and mask sizes seen; and every file that would be rejected, with why.
The pixel counts are the ones class weights are computed from (``count_pixels``), over the files
that pass the checks. The JSON goes to ``<data_root>/dataset_stats.json`` unless ``stats_path``
names another file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig
from PIL import Image
from rich.console import Console

from seg_f1 import CONF_DIR
from seg_f1.data.folder import Sample
from seg_f1.data.pixel_counts import count_pixels
from seg_f1.data.validation import find_problems
from seg_f1.io import write_atomically
from seg_f1.report.tables import Column, Table, rich_table


def _sizes(paths: Sequence[Path]) -> dict[str, int]:
    seen: Counter[str] = Counter()
    for path in paths:
        with Image.open(path) as image:
            seen[f"{image.width}x{image.height}"] += 1
    return dict(sorted(seen.items()))


def split_stats(samples: Sequence[Sample], class_names: Sequence[str], ignore_index: int) -> dict:
    """The report of one split; a rejected file is listed and left out of the counts."""
    rejected = find_problems(samples, len(class_names), ignore_index, validate="full")
    bad = {r.sample for r in rejected}
    good = [s for s in samples if s not in bad]
    counts = count_pixels([s.mask for s in good], len(class_names), ignore_index, progress=True)
    classes = {}
    for index, name in enumerate(class_names):
        present = int(counts.images_with_class[index])
        pixels = int(counts.pixels[index])
        classes[name] = {
            "pixels": pixels,
            "pixel_frequency": float(counts.frequency[index]),
            "images_with_class": present,
            "image_share": present / len(good) if good else 0.0,
            "mean_pixels_when_present": pixels / present if present else 0.0,
            "mean_area_when_present": pixels / int(counts.image_pixels[index]) if present else 0.0,
        }
    return {
        "images": len(good),
        "classes": classes,
        "image_sizes": _sizes([s.image for s in good]),
        "mask_sizes": _sizes([s.mask for s in good]),
        "rejected": [{"name": r.sample.name, "reason": r.reason} for r in rejected],
    }


def dataset_stats(datamodule, splits: Sequence[str] = ("train", "val", "test")) -> dict:
    return {
        "data_root": str(datamodule.data_root),
        "class_names": list(datamodule.class_names),
        "ignore_index": datamodule.ignore_index,
        "splits": {
            split: split_stats(
                datamodule.source.samples(split), datamodule.class_names, datamodule.ignore_index
            )
            for split in splits
        },
    }


def write_json(path: Path, report: dict) -> None:
    """Atomically, so an interrupted run never leaves a truncated report behind."""
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(report, indent=2)))


def stats_table(split: str, report: dict) -> Table:
    columns = [
        Column("class", align="left"),
        Column("pixel freq", "{:.4%}".format),
        Column("in images", "{:.1%}".format),
        Column("mean area when present", "{:.3%}".format),
    ]
    rows = [
        [name, row["pixel_frequency"], row["image_share"], row["mean_area_when_present"]]
        for name, row in report["classes"].items()
    ]
    title = f"{split}: {report['images']} images, {len(report['rejected'])} rejected"
    return Table(columns, rows, title)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    report = dataset_stats(datamodule)
    path = Path(cfg.get("stats_path") or datamodule.data_root / "dataset_stats.json")
    write_json(path, report)
    console = Console()
    for split, split_report in report["splits"].items():
        console.print(rich_table(stats_table(split, split_report)))
        for rejection in split_report["rejected"]:
            console.print(f"rejected {rejection['name']}: {rejection['reason']}")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()

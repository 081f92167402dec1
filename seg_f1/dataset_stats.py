"""What a dataset holds, before training on it: ``python -m seg_f1.dataset_stats data=lapa
data.root=/data/LaPa [+stats_path=stats.json]``.

Per split and class: pixel frequency, the share of images containing the class and its mean area
where present; the image and mask sizes seen; and every file that would be rejected, with why.
The pixel counts are the ones class weights are computed from (``count_pixels``), over the files
that pass the checks. The JSON goes to the run directory (``<run dir>/dataset_stats.json``, never
into the dataset's own folder) unless ``stats_path`` names another file.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig
from rich.console import Console

from seg_f1 import CONF_DIR, counted
from seg_f1.data.stats import dataset_stats
from seg_f1.report.tables import Column, Table, print_table
from seg_f1.runs.directory import hydra_run_dir
from seg_f1.runs.io import write_atomically


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
    title = f"{split}: {counted(report['images'], 'image')}, {len(report['rejected'])} rejected"
    return Table(columns, rows, title)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    report = dataset_stats(datamodule)
    path = Path(cfg.get("stats_path") or hydra_run_dir() / "dataset_stats.json")
    write_json(path, report)
    console = Console()
    for split, split_report in report["splits"].items():
        print_table(stats_table(split, split_report))
        for rejection in split_report["rejected"]:
            console.print(f"rejected {rejection['name']}: {rejection['reason']}")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()

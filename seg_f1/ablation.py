"""``python -m seg_f1.ablation <multirun_dir> --out docs/ablation.md``: which loss gives the best
F1, and which one gets there faster.

The sweep itself is ``python train.py -m hparams_search=ablation`` (7 loss configurations of
``conf/experiment/ablation/`` x the same seeds for each; ``make ablation`` runs both). This module
only reads the jobs' ``result.json`` and ``metrics.csv`` files. Every configuration is compared
with CE only and with CE + 0.5·Dice twice: at an early epoch (val F1, is it faster?) and at the
end (test F1 of the best checkpoint, is it better?). Runs with the same seed share their data
order and initial weights, so each comparison is a paired difference over seeds, with a 95%
t-interval on the pairs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from seg_f1.report.files import save_figure, save_text
from seg_f1.sweeps.ablation import EARLY_EPOCH, load
from seg_f1.sweeps.ablation_report import curves_figure, render


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m seg_f1.ablation", description=__doc__)
    parser.add_argument("multirun_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/ablation.md"))
    parser.add_argument(
        "--curves", type=Path, default=None, help="default: img/ablation_curves.png beside --out"
    )
    parser.add_argument("--early-epoch", type=int, default=EARLY_EPOCH)
    args = parser.parse_args(argv)
    if not args.multirun_dir.is_dir():
        parser.exit(2, f"ablation: no such multirun directory {args.multirun_dir}\n")
    if args.early_epoch < 1:
        parser.exit(2, f"ablation: --early-epoch must be >= 1, got {args.early_epoch}\n")
    sweep = load(args.multirun_dir)
    curves = args.curves or args.out.parent / "img" / "ablation_curves.png"
    save_figure(curves_figure(sweep), curves)
    link = os.path.relpath(curves.resolve(), args.out.parent.resolve())
    text = render(sweep, args.multirun_dir, args.early_epoch, curves_png=link)
    save_text(text, args.out)
    print(text)


if __name__ == "__main__":
    main()

"""Forward+backward time of the seg_f1 losses against segmentation_models_pytorch.losses.

    python benchmarks/bench_losses.py [--repeats 25] [--threads 2]

Logits are N=8, C=19, 128x128 float32 with 5% of the pixels ignored (255) and every class
present in the batch, so that "present classes" and "all classes" mean the same thing. Each
repeat times every pair once, alternating which side goes first; the table shows the median
milliseconds, the ratio ours/smp, and how far the two values are apart once aligned.

Semantic alignment, pair by pair:
- CE: smp's SoftCrossEntropyLoss averages over all pixels, ignored ones as 0; ours over the
  non-ignored ones. smp's value is divided by the non-ignored share before comparing.
- Dice, Tversky: smp scores absent classes 0 and still averages over them; ours averages over
  the present classes. With every class present they are the same function.
- Lovasz: the same function (multiclass, per batch, present classes).
- Focal: not the same function. smp's multiclass focal is the mean of C sigmoid one-vs-rest
  focal terms; ours is the softmax (multiclass) focal loss. Timed as each library's multiclass
  focal loss at alpha=0.25, gamma=2; no value comparison.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import segmentation_models_pytorch.losses as smp
import torch
from torch import nn

from seg_f1.losses import CELoss, DiceLoss, FocalLoss, LovaszSoftmaxLoss, TverskyLoss

N, C, H, W = 8, 19, 128, 128
IGNORE = 255
IGNORED_SHARE = 0.05


def unchanged(value: float) -> float:
    return value


@dataclass
class Pair:
    name: str
    ours: nn.Module
    smp: nn.Module
    align: Callable[[float], float] | None  # smp value -> ours' semantics; None: not comparable


def make_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(N, C, H, W, generator=g)
    target = torch.randint(0, C, (N, H, W), generator=g)
    target[torch.rand(N, H, W, generator=g) < IGNORED_SHARE] = IGNORE
    return logits, target


def make_pairs(valid_share: float) -> list[Pair]:
    return [
        Pair(
            "CE",
            CELoss(),
            smp.SoftCrossEntropyLoss(smooth_factor=0.0, ignore_index=IGNORE),
            lambda value: value / valid_share,
        ),
        Pair("Dice", DiceLoss(), smp.DiceLoss("multiclass", ignore_index=IGNORE), unchanged),
        Pair(
            "Focal",
            FocalLoss(alpha=0.25, gamma=2.0),
            smp.FocalLoss("multiclass", alpha=0.25, gamma=2.0, ignore_index=IGNORE),
            None,
        ),
        Pair(
            "Tversky",
            TverskyLoss(alpha=0.3, beta=0.7),
            smp.TverskyLoss("multiclass", alpha=0.3, beta=0.7, ignore_index=IGNORE),
            unchanged,
        ),
        Pair(
            "Lovasz",
            LovaszSoftmaxLoss(),
            smp.LovaszLoss("multiclass", ignore_index=IGNORE),
            unchanged,
        ),
    ]


def step(loss: nn.Module, logits: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Seconds for one forward+backward, and the loss value."""
    logits.grad = None
    start = time.perf_counter()
    value = loss(logits, target)
    value.backward()
    return time.perf_counter() - start, value.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    logits, target = make_batch()
    logits.requires_grad_(True)
    valid_share = (target != IGNORE).float().mean().item()
    pairs = make_pairs(valid_share)
    times = {(pair.name, side): [] for pair in pairs for side in ("ours", "smp")}
    values = {}
    for pair in pairs:  # warm-up
        values[pair.name] = step(pair.ours, logits, target)[1], step(pair.smp, logits, target)[1]
    for repeat in range(args.repeats):
        for pair in pairs:
            sides = [("ours", pair.ours), ("smp", pair.smp)]
            for side, loss in sides if repeat % 2 == 0 else sides[::-1]:
                times[pair.name, side].append(step(loss, logits, target)[0])

    print(
        f"N={N} C={C} {H}x{W}, {IGNORED_SHARE:.0%} ignored, forward+backward, "
        f"median of {args.repeats} interleaved repeats, {args.threads} threads"
    )
    print(f"{'loss':<8} {'ours ms':>9} {'smp ms':>9} {'ours/smp':>9} {'|ours - smp aligned|':>21}")
    for pair in pairs:
        ours_ms = 1e3 * statistics.median(times[pair.name, "ours"])
        smp_ms = 1e3 * statistics.median(times[pair.name, "smp"])
        ours_value, smp_value = values[pair.name]
        aligned = None if pair.align is None else abs(ours_value - pair.align(smp_value))
        diff = "different loss" if aligned is None else f"{aligned:.1e}"
        print(f"{pair.name:<8} {ours_ms:>9.2f} {smp_ms:>9.2f} {ours_ms / smp_ms:>9.2f} {diff:>21}")


if __name__ == "__main__":
    main()

"""The F1 bookkeeping's share of a training step: ``ConfusionMatrix.update`` against the step.

    python benchmarks/bench_metrics.py [--batch 8] [--classes 19] [--size 256] [--device cpu]

Every training step, ``SegmentationModule`` updates the split's confusion matrix with
``argmax(logits)`` against the mask; F1 itself is computed once per epoch. This times that
update (argmax, ignore_index filter, bincount) and one training step of the U-Net-resnet18
(forward, ``ce_dice``-style loss, backward, AdamW step) on the same N x C x size^2 logits,
alternating the two, and prints the medians and the share. Target: <= 3%.

On the CPU both are timed in this process's CPU time (run with ``--threads 1``), which other
jobs on a shared machine barely disturb; on a GPU in wall-clock time after a synchronize.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from seg_f1.losses import CELoss, CompositeLoss, DiceLoss  # noqa: E402
from seg_f1.metrics import ConfusionMatrix  # noqa: E402
from seg_f1.network import create_network  # noqa: E402

IGNORE = 255


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work) -> float:
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    synchronize(device)
    began = clock()
    work()
    synchronize(device)
    return clock() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    g = torch.Generator().manual_seed(0)
    shape = (args.batch, args.size, args.size)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=g).to(device)
    masks = torch.randint(0, args.classes, shape, generator=g)
    masks[torch.rand(shape, generator=g) < 0.05] = IGNORE
    masks = masks.to(device)
    logits = torch.randn(args.batch, args.classes, args.size, args.size, generator=g).to(device)

    net = create_network("Unet", "resnet18", None, args.classes).to(device)
    loss_fn = CompositeLoss(
        {"ce": CELoss(ignore_index=IGNORE), "dice": DiceLoss(ignore_index=IGNORE)},
        {"ce": 1.0, "dice": 0.5},
    )
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    confusion = ConfusionMatrix(args.classes, IGNORE).to(device)

    def step() -> None:
        loss = loss_fn(net(images), masks)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    def update() -> None:
        confusion.update(logits, masks)

    step(), update()  # warm-up: allocations, kernel selection
    step_times, update_times = [], []
    for _ in range(args.repeats):
        step_times.append(timed(device, step))
        update_times.append(statistics.median(timed(device, update) for _ in range(5)))
    assert confusion.compute().sum() > 0  # the updates did count pixels

    step_s, update_s = statistics.median(step_times), statistics.median(update_times)
    print(
        f"{args.batch}x{args.classes}x{args.size}^2 on {device} ({torch.get_num_threads()} threads)"
    )
    print(f"training step      {step_s * 1e3:10.1f} ms")
    print(f"F1 matrix update   {update_s * 1e3:10.1f} ms")
    print(f"F1 update share of a step: {update_s / step_s:.2%} (target <= 3%)")


if __name__ == "__main__":
    main()

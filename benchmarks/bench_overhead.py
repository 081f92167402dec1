"""What seg_f1's training loop costs on top of a bare PyTorch loop, per optimizer step.

    python benchmarks/bench_overhead.py [--size 128] [--batch 8] [--steps 12] [--rounds 3]

Both sides train the same smp U-Net-resnet18 (same seed, fp32) with the same ``ce_dice`` loss
and AdamW from ``conf/``, on the same in-memory batches through the same DataLoader. The batches
are uint8 images and masks, as seg_f1's loader ships them, so both sides also do the same
input work: normalise with the data config's mean/std and widen the masks to int64.

- bare: normalise and widen, forward, loss, backward, ``optimizer.step()``, ``zero_grad()``;
- seg_f1: ``trainer.fit`` with ``SegmentationModule`` and the default trainer, callbacks and
  CSV logger of ``conf/`` (train F1 confusion matrix, per-step logging, rich progress bar,
  checkpointing), validation off so that only training steps are compared.

Seconds per step are timed from the start of step ``--warmup`` to the end of the last step, so
trainer setup and the end-of-fit checkpoint are left out (they are printed separately). Both
wall-clock and this process's CPU time are taken: on a machine shared with other jobs the wall
clock mostly measures the neighbours, CPU time (with ``--threads 1``) the work itself. Rounds
alternate which side runs first; each ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import hydra  # noqa: E402
import lightning as L  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from torch import Tensor  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from seg_f1.losses import build_loss  # noqa: E402
from seg_f1.network import channel_vector, create_network, normalise_pixels  # noqa: E402
from seg_f1.training import build_trainer  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf"


class InMemory(Dataset):
    """Random uint8 images and masks made once, the dtypes seg_f1's loader yields: neither side
    pays for decoding or augmentation, both for normalising and widening."""

    def __init__(self, count: int, size: int, num_classes: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (count, 3, size, size), generator=g, dtype=torch.uint8)
        shape = (count, size, size)
        self.masks = torch.randint(0, num_classes, shape, generator=g, dtype=torch.uint8)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index], "mask": self.masks[index]}


class StepClock(L.Callback):
    """The same timestamps the bare loop takes: each step's start, and the last step's end."""

    def __init__(self) -> None:
        self.starts: list[tuple[float, float]] = []
        self.end = (0.0, 0.0)

    def on_train_batch_start(self, *args) -> None:
        self.starts.append(now())

    def on_train_batch_end(self, *args) -> None:
        self.end = now()


def now() -> tuple[float, float]:
    """Wall clock and this process's CPU time."""
    return time.perf_counter(), time.process_time()


def load_config(output_dir: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "config",
            overrides=[
                f"paths.root_dir={output_dir}",
                f"paths.data_dir={output_dir}",
                f"paths.output_dir={output_dir}",
                "trainer.max_epochs=1",
                "+trainer.limit_val_batches=0",
                "test=false",
                *overrides,
            ],
        )


def per_step(starts: list[tuple[float, float]], end: tuple[float, float], warmup: int) -> Times:
    steps = len(starts) - warmup
    return Times(*((end[i] - starts[warmup][i]) / steps for i in (0, 1)))


class Times(NamedTuple):
    wall: float
    cpu: float


def bare_inputs(batch: dict, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
    """What ``SegmentationModule.on_after_batch_transfer`` makes of a uint8 batch."""
    return normalise_pixels(batch["image"], mean, std), batch["mask"].long()


def run_bare(cfg: DictConfig, loader: DataLoader, warmup: int) -> tuple[Times, float]:
    began = time.perf_counter()
    torch.manual_seed(cfg.seed)
    classes = len(cfg.data.classes)
    net = create_network(cfg.model.arch, cfg.model.encoder_name, None, classes)
    loss_fn = build_loss(cfg.loss, num_classes=classes, ignore_index=cfg.data.ignore_index)
    optimizer = hydra.utils.instantiate(cfg.optimizer)(params=net.parameters())
    mean, std = channel_vector(cfg.data.mean), channel_vector(cfg.data.std)
    net.train()
    starts = []
    for batch in loader:
        starts.append(now())
        image, mask = bare_inputs(batch, mean, std)
        loss = loss_fn(net(image), mask)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    end = now()
    return per_step(starts, end, warmup), end[0] - began


def run_seg_f1(cfg: DictConfig, loader: DataLoader, warmup: int) -> tuple[Times, float]:
    began = time.perf_counter()
    torch.manual_seed(cfg.seed)
    classes = len(cfg.data.classes)
    loss = build_loss(cfg.loss, num_classes=classes, ignore_index=cfg.data.ignore_index)
    module = hydra.utils.instantiate(
        cfg.model,
        encoder_weights=None,
        loss=loss,
        optimizer=hydra.utils.instantiate(cfg.optimizer),
        scheduler=hydra.utils.instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        mean=list(cfg.data.mean),
        std=list(cfg.data.std),
        _convert_="all",
    )
    trainer = build_trainer(cfg)
    clock = StepClock()
    trainer.callbacks.append(clock)
    trainer.fit(module, train_dataloaders=loader)
    return per_step(clock.starts, clock.end, warmup), time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="extra conf/ overrides, e.g. model.arch=FPN")
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error(f"--steps ({args.steps}) must exceed --warmup ({args.warmup})")
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as output_dir:
        cfg = load_config(output_dir, args.overrides)
        data = InMemory(args.steps * args.batch, args.size, len(cfg.data.classes))
        loader = DataLoader(data, batch_size=args.batch, shuffle=False, num_workers=0)
        names = ("bare", "seg_f1", "bare_total", "seg_f1_total")
        times: dict[str, list[Times | float]] = {name: [] for name in names}
        ratios: dict[str, list[float]] = {"wall": [], "cpu": []}
        for round_index in range(args.rounds):
            order = ("bare", "seg_f1") if round_index % 2 == 0 else ("seg_f1", "bare")
            measured = {}
            for side in order:
                run = run_bare if side == "bare" else run_seg_f1
                measured[side], total = run(cfg, loader, args.warmup)
                times[side].append(measured[side])
                times[f"{side}_total"].append(total)
            for clock in ratios:
                ratios[clock].append(
                    getattr(measured["seg_f1"], clock) / getattr(measured["bare"], clock)
                )
            print(
                f"round {round_index}: bare {measured['bare'].wall:.4f} s/step "
                f"({measured['bare'].cpu:.4f} CPU), seg_f1 {measured['seg_f1'].wall:.4f} s/step "
                f"({measured['seg_f1'].cpu:.4f} CPU), ratio {ratios['wall'][-1]:.3f} "
                f"({ratios['cpu'][-1]:.3f} CPU)",
                flush=True,
            )

    median = statistics.median
    print(
        f"\n{args.size}px batch {args.batch}, {args.steps} steps ({args.warmup} warm-up), "
        f"{args.rounds} rounds, {torch.get_num_threads()} threads"
    )
    for side in ("bare", "seg_f1"):
        wall = median(t.wall for t in times[side])
        cpu = median(t.cpu for t in times[side])
        total = median(times[f"{side}_total"])
        print(f"{side:7} {wall:.4f} s/step  {cpu:.4f} CPU s/step  whole run {total:.2f} s")
    print("(whole run: seg_f1's includes trainer setup and the final checkpoint)")
    print(f"ratio seg_f1/bare per step: {median(ratios['wall']):.3f} wall clock (target <= 1.05)")
    print(f"ratio seg_f1/bare per step: {median(ratios['cpu']):.3f} CPU time (target <= 1.05)")


if __name__ == "__main__":
    main()

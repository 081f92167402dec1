"""Is the data loader ever the bottleneck? Images/s through the training dataloader against the
model's training-step images/s, measured in one run on the same machine.

    python benchmarks/bench_data.py [--images 64] [--batch-size 16] [--workers 2] [--steps 4]

The loader reads 512² PNG image/mask pairs (synthetic faces, written once to a temp folder),
resizes to 256² and applies the ``light`` pipeline from conf/data/augment, with ``--workers``
processes. The step is forward + CE/Dice loss + backward + AdamW of the default model
(conf/model/unet.yaml: U-Net-resnet18) at 256² on CUDA when present, else the CPU. Rounds
alternate loader and model so both see the same machine state. Target: loader/step >= 2.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hydra  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from PIL import Image  # noqa: E402

from seg_f1.data.synthetic import make_sample  # noqa: E402
from seg_f1.losses import build_loss  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf"
SOURCE_SIZE, TRAIN_SIZE = 512, 256


def write_pngs(root: Path, count: int) -> None:
    for split in ("train", "val", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
    for index in range(count):
        image, mask = make_sample(0, "train", index, SOURCE_SIZE)
        Image.fromarray(image).save(root / "train" / "images" / f"{index:05d}.png")
        Image.fromarray(mask).save(root / "train" / "masks" / f"{index:05d}.png")
    for split in ("val", "test"):  # the datamodule sets up every split; one pair each will do
        for kind in ("images", "masks"):
            src = root / "train" / kind / "00000.png"
            (root / split / kind / "00000.png").write_bytes(src.read_bytes())


def compose_cfg(root: Path, args: argparse.Namespace):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "config",
            overrides=[
                "data=folder", f"data.root={root}", "data/augment=light",
                f"data.image_size={TRAIN_SIZE}", f"data.batch_size={args.batch_size}",
                f"data.num_workers={args.workers}", "data.persistent_workers=true",
                "paths.root_dir=.", "paths.output_dir=.",
            ],
        )  # fmt: skip


def loader_rate(loader, batches: int) -> float:
    """Images/s over ``batches`` batches, after one batch that pays for worker start-up."""
    iterator = iter(loader)
    next(iterator)
    start, images = time.perf_counter(), 0
    for _ in range(batches):
        try:
            batch = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            batch = next(iterator)
        images += batch["image"].shape[0]
    return images / (time.perf_counter() - start)


def step_rate(module, loss_fn, optimizer, batch, steps: int, device: torch.device) -> float:
    def one_step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(module(batch["image"]), batch["mask"])
        loss.backward()
        optimizer.step()

    one_step()  # warm-up: allocator, cuDNN autotuning
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        one_step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch["image"].shape[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4, help="timed training steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_pngs(root, args.images)
        cfg = compose_cfg(root, args)
        datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
        num_classes = datamodule.num_classes
        loss_fn = build_loss(cfg.loss, num_classes=num_classes, ignore_index=255).to(device)
        module = hydra.utils.instantiate(cfg.model, loss=None, optimizer=None, _convert_="all")
        module = module.net.to(device).train()
        optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
        batch = next(iter(loader))
        batch = {k: batch[k].to(device) for k in ("image", "mask")}
        batches = max(2, args.images // args.batch_size)
        loads, steps = [], []
        for round_index in range(args.rounds):
            loads.append(loader_rate(loader, batches))
            steps.append(step_rate(module, loss_fn, optimizer, batch, args.steps, device))
            print(
                f"round {round_index}: loader {loads[-1]:7.1f} img/s   step {steps[-1]:7.1f} img/s"
            )

    load, step = statistics.median(loads), statistics.median(steps)
    print(
        f"\n{device.type}, {args.workers} workers, batch {args.batch_size}, "
        f"{SOURCE_SIZE}² PNG -> {TRAIN_SIZE}², light augmentation, {torch.get_num_threads()} "
        "torch threads"
    )
    print(f"loader  {load:8.1f} img/s (median of {args.rounds} rounds)")
    print(f"step    {step:8.1f} img/s (U-Net-resnet18, CE+Dice, AdamW)")
    verdict = "ok" if load / step >= 2 else "LOADER IS A BOTTLENECK"
    print(f"loader/step = {load / step:.2f}  (target >= 2: {verdict})")


if __name__ == "__main__":
    main()

"""Images/s per loader core on CelebAMask-HQ's layout, against a bare decode loop, and the loader
cores a GPU needs.

    python benchmarks/bench_data.py [--images 64] [--size 512] [--rounds 3] [--workers 4]

Writes ``--images`` photos as JPEGs of twice ``--size`` (1024² at the default, CelebA-HQ's size)
and masks as ``--size``² PNGs (CelebAMask-HQ's 512²) into a temp folder. Then, on one core each
and interleaved over ``--rounds``, it times:

- item: ``FaceParsingDataset.__getitem__`` as training runs it (``data=folder``,
  ``data.image_size=--size``, ``data/augment=light``): reduced JPEG decode, INTER_AREA resize,
  mask read and check, the loader's augmentation (the flip), uint8 tensors;
- bare: the least any loader does: OpenCV's reduced JPEG decode (``IMREAD_REDUCED_COLOR_2/4/8``)
  and the mask's PNG decode;
- former: the item as it was before this pipeline: Pillow's full decode, INTER_AREA, the whole
  of ``light`` in the loader (the numpy flip, albumentations' Affine and ColorJitter), float32
  normalisation and int64 masks on the CPU;
- cpu run: the item as a CPU-only run has it (``data.augment_on=auto`` on a CPU): today's
  decode with all of ``light`` in the loader, the affine and jitter as albumentations steps.

The light affine and colour jitter now run on the model's device, a batch at a time; their cost
on this CPU, per image, is printed beside the rest (on a GPU it is a few kernels per batch).

Rates are images per CPU-second of this process (OpenCV and torch on one thread), so other load
on the machine matters less; wall-clock rates are printed too. With ``--workers N`` the real
DataLoader (N processes, collate and transfer between processes included) is timed as well.

The GPU's demand: U-Net-resnet34 forward + backward FLOPs per image at ``--size``, counted by
``torch.utils.flop_counter`` on the meta device (nothing is computed), at 40% of an H200's 989
dense bf16 TFLOP/s. Goals: the item costs at most 1.5x the bare loop, and runs at least 2x the
former item's images/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import hydra  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from seg_f1.data.datamodule import split_augment  # noqa: E402
from seg_f1.data.dataset import (  # noqa: E402
    FaceParsingDataset,
    check_mask_values,
    read_mask,
    resize_pair,
)
from seg_f1.data.drawing import make_sample  # noqa: E402
from seg_f1.data.images import read_image  # noqa: E402
from seg_f1.data.transforms import PairedHorizontalFlip  # noqa: E402
from seg_f1.network import create_network  # noqa: E402

CONF = Path(__file__).resolve().parents[1] / "conf"
H200_BF16_TFLOPS, SHARE_OF_PEAK = 989.0, 0.4
REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
           8: cv2.IMREAD_REDUCED_COLOR_8}  # fmt: skip


def write_dataset(root: Path, count: int, size: int) -> float:
    """Photos at 2 x size with a little sensor-like noise (a flat drawing would compress, and
    decode, unrealistically fast) and size² masks. Returns the mean JPEG size in KiB."""
    for split in ("train", "val", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
    noise = np.random.default_rng(0)
    for index in range(count):
        image, mask = make_sample(0, "train", index, size)
        photo = cv2.resize(image, (2 * size, 2 * size), interpolation=cv2.INTER_CUBIC)
        photo = np.clip(photo + noise.normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
        Image.fromarray(photo).save(root / "train" / "images" / f"{index:05d}.jpg", quality=95)
        Image.fromarray(mask).save(root / "train" / "masks" / f"{index:05d}.png")
    for split in ("val", "test"):  # the datamodule sets up every split; one pair each will do
        for kind, suffix in (("images", "jpg"), ("masks", "png")):
            name = f"00000.{suffix}"
            (root / split / kind / name).write_bytes((root / "train" / kind / name).read_bytes())
    photos = list((root / "train" / "images").glob("*.jpg"))
    return sum(p.stat().st_size for p in photos) / len(photos) / 1024


def compose_cfg(root: Path, args: argparse.Namespace):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "config",
            overrides=[
                "data=folder", f"data.root={root}", "data/augment=light", "data.augment_on=device",
                f"data.image_size={args.size}", f"data.batch_size={args.batch_size}",
                f"data.num_workers={args.workers}", "data.persistent_workers=true",
                "paths.root_dir=.", "paths.output_dir=.",
            ],
        )  # fmt: skip


class FormerFlip(PairedHorizontalFlip):
    """The flip as it was: numpy indexing, ten times slower than ``cv2.flip`` at 512²."""

    def apply(self, img: np.ndarray, **params) -> np.ndarray:
        return np.ascontiguousarray(img[:, ::-1])

    def apply_to_mask(self, mask: np.ndarray, **params) -> np.ndarray:
        return self.lut[mask[:, ::-1]]


def former_light(datamodule) -> A.Compose:
    """conf/data/augment/light.yaml as it was: every step in the loader."""
    return A.Compose([
        FormerFlip(datamodule.flip_pairs, datamodule.class_names, p=0.5),
        A.Affine(scale=(0.95, 1.05), translate_percent=(-0.04, 0.04), rotate=(-10, 10),
                 interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                 border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=datamodule.ignore_index,
                 p=0.5),
        A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02, p=0.5),
    ])  # fmt: skip


def former_item(dataset, augment, mean: np.ndarray, std: np.ndarray, index: int) -> dict:
    """The training item before the reduced decode, uint8 batches and device augmentation."""
    sample = dataset.samples[index]
    mask = read_mask(sample.mask)
    check_mask_values(mask, dataset.num_classes, dataset.ignore_index, sample.mask)
    image, mask = resize_pair(read_image(sample.image), mask, dataset.image_size)
    out = augment(image=image, mask=mask)
    image = (out["image"].astype(np.float32) - mean) / std
    return {
        "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),
        "mask": torch.from_numpy(np.ascontiguousarray(out["mask"])).long(),
    }


def bare_item(samples, flag: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    sample = samples[index]
    return cv2.imread(str(sample.image), flag), cv2.imread(str(sample.mask), cv2.IMREAD_UNCHANGED)


def rates(read: Callable[[int], object], count: int) -> tuple[float, float]:
    """(images per CPU-second, images per wall-second) over one pass of ``count`` items."""
    cpu, wall = time.process_time(), time.perf_counter()
    for index in range(count):
        read(index)
    return count / (time.process_time() - cpu), count / (time.perf_counter() - wall)


def batch_augment_ms(batch_augment, dataset, batch_size: int, rounds: int) -> float:
    """CPU milliseconds per image of the device steps, on batches of this CPU's loader."""
    batch = [dataset[i % len(dataset)] for i in range(batch_size)]
    images = torch.stack([item["image"] for item in batch])
    masks = torch.stack([item["mask"] for item in batch]).long()
    batch_augment(images, masks, seed=0)  # warm-up
    start = time.process_time()
    for seed in range(rounds):
        batch_augment(images, masks, seed)
    return (time.process_time() - start) / (rounds * batch_size) * 1000


def loader_rate(loader, batches: int) -> float:
    """Images/s of the real DataLoader, after one batch that pays for worker start-up."""
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


def gflops_per_image(encoder: str, size: int, num_classes: int) -> float:
    """Forward + backward of one image with a cross-entropy loss, on the meta device."""
    with torch.device("meta"):
        network = create_network("Unet", encoder, None, num_classes)
        images = torch.zeros(1, 3, size, size)
        masks = torch.zeros(1, size, size, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(network(images), masks).backward()
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=512, help="data.image_size; photos are 2x")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4, help="DataLoader processes; 0: skip")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--encoder", default="resnet34")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        jpeg_kib = write_dataset(root, args.images, args.size)
        cfg = compose_cfg(root, args)
        datamodule = hydra.utils.instantiate(cfg.data, _convert_="all")
        datamodule.setup("fit")
        dataset = datamodule.datasets["train"]
        mean = np.asarray(datamodule.mean, np.float32) * 255.0
        std = np.asarray(datamodule.std, np.float32) * 255.0
        flag = REDUCED[2]  # photos are twice the model size
        former_augment = former_light(datamodule)
        cpu_run = FaceParsingDataset(
            dataset.samples, args.size, split_augment(datamodule.augment_steps, on_device=False)[0],
            num_classes=dataset.num_classes, ignore_index=dataset.ignore_index,
        )  # fmt: skip
        paths = {
            "item": dataset.__getitem__,
            "bare": lambda i: bare_item(dataset.samples, flag, i),
            "former": lambda i: former_item(dataset, former_augment, mean, std, i),
            "cpu run": cpu_run.__getitem__,
        }
        measured: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        torch.manual_seed(0)
        for read in paths.values():  # warm-up: first calls, file cache
            rates(read, min(4, len(dataset)))
        for round_index in range(args.rounds):
            for name, read in paths.items():
                measured[name].append(rates(read, len(dataset)))
            print(f"round {round_index}: " + "   ".join(
                f"{name} {measured[name][-1][0]:7.1f}" for name in paths
            ) + "  img/s per core")  # fmt: skip
        on_device = batch_augment_ms(datamodule.batch_augment, dataset, args.batch_size, 3)
        loader = None
        if args.workers > 0:
            batches = max(2, args.images // args.batch_size)
            loader = loader_rate(datamodule.train_dataloader(), batches)

    per_core = {name: statistics.median(r[0] for r in runs) for name, runs in measured.items()}
    wall = {name: statistics.median(r[1] for r in runs) for name, runs in measured.items()}
    photo = 2 * args.size
    print(
        f"\n{args.images} photos {photo}² JPEG (mean {jpeg_kib:.0f} KiB) + {args.size}² PNG "
        f"masks -> data.image_size={args.size}, augment=light; median of {args.rounds} rounds, "
        "one core (torch and OpenCV on 1 thread)"
    )
    labels = {
        "item": "item    (training item: reduced decode, light)",
        "bare": "bare    (cv2 reduced decode + mask read)      ",
        "former": "former  (Pillow full decode, float32 on CPU)  ",
        "cpu run": "cpu run (all of light in the loader, uint8)   ",
    }
    for name, label in labels.items():
        print(f"{label} {per_core[name]:8.1f} img/s per core (wall {wall[name]:.1f})")
    cost = per_core["bare"] / per_core["item"]
    speedup = per_core["item"] / per_core["former"]
    print(
        f"light's affine + colour jitter, now on the device: {on_device:.2f} ms per image on this "
        f"CPU (batches of {args.batch_size}, p=0.5 each)"
    )
    print(f"item cost / bare cost: {cost:.2f} (goal <= 1.5)")
    print(f"item / former images/s: {speedup:.2f} (goal >= 2)")
    if loader is not None:
        print(
            f"DataLoader, {args.workers} workers, batch {args.batch_size}: {loader:.1f} img/s "
            f"({loader / args.workers:.1f} per worker)"
        )
    gflops = gflops_per_image(args.encoder, args.size, len(cfg.data.classes))
    demand = SHARE_OF_PEAK * H200_BF16_TFLOPS * 1e12 / (gflops * 1e9)
    print(f"U-Net-{args.encoder} at {args.size}²: {gflops:.2f} GFLOP per image (fwd + bwd)")
    print(
        f"H200 at {SHARE_OF_PEAK:.0%} of {H200_BF16_TFLOPS:g} TFLOP/s: {demand:.0f} img/s to "
        f"feed; loader cores needed: {demand / per_core['item']:.1f} "
        f"(former item: {demand / per_core['former']:.1f})"
    )


if __name__ == "__main__":
    main()

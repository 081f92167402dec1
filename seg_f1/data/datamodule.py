"""The LightningDataModule: one class for every dataset, which differ only in their ``source``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import albumentations as A
import lightning as L
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Sampler

from seg_f1.data.batch_augment import BatchAugment, BatchTransform
from seg_f1.data.dataset import FaceParsingDataset
from seg_f1.data.folder import check_root
from seg_f1.data.images import MAX_PIXELS
from seg_f1.data.label_colors import label_colors as read_label_colors
from seg_f1.data.normalisation import IMAGENET_MEAN, IMAGENET_STD
from seg_f1.data.transforms import swap_lut
from seg_f1.data.validation import check_options, validate_split

log = logging.getLogger(__name__)

AUGMENT_PLACES = ("auto", "device", "loader")


def split_augment(
    steps: Sequence[object], on_device: bool = True
) -> tuple[A.Compose | None, BatchAugment | None]:
    """``data.augment``'s steps, in order -> the loader's albumentations pipeline and
    the batch steps for the device, each None when it has no step. Without ``on_device``, the
    batch steps join the loader as their albumentations twins, after its own steps as on the
    device, so both places apply the steps in the same order."""
    loader_steps = [step for step in steps if not isinstance(step, BatchTransform)]
    batch_steps = [step for step in steps if isinstance(step, BatchTransform)]
    if not on_device:
        loader_steps += [step.in_loader() for step in batch_steps]
        batch_steps = []
    loader_pipeline = A.Compose(loader_steps) if loader_steps else None
    return loader_pipeline, BatchAugment(batch_steps) if batch_steps else None


class FaceParsingDataModule(L.LightningDataModule):
    """Face-parsing masks from any ``source`` exposing ``prepare()``, ``samples(split)`` and
    ``data_root``; class names, flip pairs and the ignore index come from the data config.

    ``root`` is the dataset folder a user passes as ``data.root`` (sources interpolate it); it is
    checked here so a typo fails first. ``validate`` (full|sample|off) checks each split's files
    at setup, and ``on_bad_sample`` (raise|skip) says what a bad file does. ``mask_size``
    (scaled|any) says which masks may differ in size from their image (``check_mask_size``).
    ``max_pixels``: a file whose header promises more pixels is refused before it is decoded
    (a decompression bomb), as a bad file. ``label_colors`` (``{class: [r, g, b]}``) reads
    colour-coded label images instead of index masks (``seg_f1.data.label_colors``).

    ``augment`` lists training-only steps in order: albumentations transforms run in the loader
    (``augment_in_loader``), ``BatchTransform`` steps after them on the model's device, a batch
    at a time (``batch_augment``, which the model applies). ``augment_on`` places the batch
    steps: ``device``, ``loader`` (as albumentations steps), or ``auto``: on the device when the
    trainer's is not a CPU, where the loader's workers do them faster.

    Batches hold uint8 images; ``mean``/``std`` (0..1 scale) are handed to the model, which
    normalises on its device and stores them in its checkpoint. ``num_workers``, ``pin_memory``,
    ``persistent_workers`` and ``prefetch_factor`` go to every DataLoader; a trainer preset may
    set them for its hardware (docs/scaling.md)."""

    def __init__(
        self,
        source,
        classes: Sequence[str],
        flip_pairs: Sequence[Sequence[str]] = (),
        ignore_index: int = 255,
        image_size: int = 128,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        augment: Mapping[str, object] | Sequence[object] | None = (),
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        pin_memory: bool = False,
        persistent_workers: bool = True,
        prefetch_factor: int | None = None,
        root: str | None = None,
        validate: str = "sample",
        on_bad_sample: str = "raise",
        mask_size: str = "scaled",
        augment_on: str = "auto",
        max_pixels: int = MAX_PIXELS,
        label_colors: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        super().__init__()
        if augment_on not in AUGMENT_PLACES:
            raise ValueError(f"data.augment_on must be one of {AUGMENT_PLACES}, got {augment_on!r}")
        if len(classes) < 2:
            raise ValueError(f"data.classes must name at least 2 classes, got {list(classes)}")
        swap_lut(flip_pairs, list(classes))  # fail now on a flip pair that names no class
        self.label_colors = read_label_colors(label_colors, classes)
        check_options(validate, on_bad_sample, mask_size)
        if root is not None:
            check_root(root)
        self.validate, self.on_bad_sample, self.mask_size = validate, on_bad_sample, mask_size
        self.max_pixels = max_pixels
        self.source = source
        self.class_names = list(classes)
        self.flip_pairs = [list(pair) for pair in flip_pairs]
        self.ignore_index = ignore_index
        self.image_size = image_size
        self.mean, self.std = list(mean), list(std)
        augment = augment or ()  # data.augment=null: none
        # named steps from conf/data/augment, in order
        self.augment_steps = list(augment.values() if isinstance(augment, Mapping) else augment)
        self.augment_on = augment_on
        self.augment_in_loader: A.Compose | None = None
        self.batch_augment: BatchAugment | None = None
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.prefetch_factor = prefetch_factor if num_workers > 0 else None
        self.datasets: dict[str, FaceParsingDataset] = {}
        self._checked: dict[str, list] = {}
        # called with a file that cannot be read safely instead of on_bad_sample (evaluate's rule)
        self.on_unreadable: Callable[[Path, str], None] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def data_root(self) -> Path:
        return Path(self.source.data_root)

    def prepare_data(self) -> None:
        self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        # placed at every setup: the same datamodule may serve a CPU trainer, then a GPU one
        placed = split_augment(self.augment_steps, self.augments_on_device())
        self.augment_in_loader, self.batch_augment = placed
        if "train" in self.datasets:
            self.datasets["train"].augment = self.augment_in_loader
        for split in ("train", "val", "test"):
            if split not in self.datasets:
                augment = self.augment_in_loader if split == "train" else None
                self.datasets[split] = FaceParsingDataset(
                    self.checked_samples(split), self.image_size, augment,
                    num_classes=self.num_classes, ignore_index=self.ignore_index,
                    mask_size=self.mask_size, max_pixels=self.max_pixels,
                )  # fmt: skip
                log.info(
                    "%s split: %d images from %s", split, len(self.datasets[split]), self.data_root
                )

    def augments_on_device(self) -> bool:
        if self.augment_on != "auto":
            return self.augment_on == "device"
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type != "cpu"

    def checked_samples(self, split: str) -> list:
        """The split's samples once ``validate``/``on_bad_sample`` are applied (computed once)."""
        if split not in self._checked:
            samples = self.source.samples(split)
            if self.label_colors is not None:
                samples = [replace(sample, colors=self.label_colors) for sample in samples]
            self._checked[split] = validate_split(
                samples, split, self.num_classes, self.ignore_index,
                self.validate, self.on_bad_sample, self.mask_size, self.max_pixels,
                self.on_unreadable,
            )  # fmt: skip
        return self._checked[split]

    def train_mask_paths(self) -> list[Path]:
        """The training split's masks: class weights must never see val or test, nor a file
        that ``on_bad_sample=skip`` left out."""
        return [sample.mask for sample in self.checked_samples("train")]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size if split == "train" else self.eval_batch_size,
            shuffle=shuffle,
            sampler=None if shuffle else self._eval_sampler(split),
            drop_last=shuffle and len(self.datasets[split]) > self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            prefetch_factor=self.prefetch_factor,
        )

    def _eval_sampler(self, split: str) -> Sampler | None:
        """Under DDP, each image of a validation or test split on exactly one rank. Lightning's
        default ``DistributedSampler`` pads the split to a multiple of the ranks, which would
        count up to ``ranks - 1`` images twice in the summed confusion matrix."""
        trainer = self.trainer
        if trainer is None or trainer.world_size <= 1:
            return None
        return UnrepeatedDistributedSampler(
            self.datasets[split],
            num_replicas=trainer.world_size,
            rank=trainer.global_rank,
            shuffle=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

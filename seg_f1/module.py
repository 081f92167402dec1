"""The LightningModule: an smp network trained on an injected loss while F1 is monitored.

F1 has no gradient, so the loss (``conf/loss``) is what the optimizer sees, and F1 from one
confusion matrix per split and epoch is what gets logged, checkpointed and swept over.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch
from torch import Tensor

from seg_f1.data.batch_augment import batch_seed
from seg_f1.data.framing import framing_of
from seg_f1.data.labels import SPLITS
from seg_f1.data.normalisation import IMAGENET_MEAN, IMAGENET_STD
from seg_f1.losses import CompositeLoss
from seg_f1.metrics import ConfusionMatrix, f1_from_confusion
from seg_f1.network import (
    ARCH,
    ENCODER,
    build_network,
    channel_vector,
    normalise_pixels,
    run_network,
    stored_normalisation,
)
from seg_f1.runs.resume import capture_rng_states, restore_rng_states, stretch_cosine

log = logging.getLogger(__name__)

# Lightning warns whenever a module overrides this hook and a datamodule is passed; the
# datamodule never overrides it, so the module's normalisation is the one that runs.
warnings.filterwarnings(
    "ignore", message="You have overridden `on_after_batch_transfer` in `LightningModule`"
)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _check_compile_mode(mode: str) -> str:
    """torch.compile would only reject a misspelt mode at the first forward, minutes later."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"model.compile_mode must be one of {COMPILE_MODES}, got {mode!r}")
    return mode


class SegmentationModule(L.LightningModule):
    """An smp ``arch``/``encoder_name`` network with one output channel per class name.

    Args:
        class_names: the data config's classes in index order; stored in every checkpoint.
        loss: a ``CompositeLoss`` (``seg_f1.losses.build_loss``); may be None for inference.
        optimizer, scheduler: Hydra ``_partial_`` callables taking ``params`` / ``optimizer``.
        run_config: the resolved run config, stored in every checkpoint under ``"config"``.
        model_kwargs: passed through to ``smp.create_model`` (decoder channels, etc.).
        on_nan: a training step whose loss is not finite is skipped (``skip``, counted in
            ``train/skipped_steps``) or stops training with the step, files and terms (``stop``).
        channels_last: weights and inputs in NHWC, which tensor cores and oneDNN prefer.
        compile: wrap the network in ``torch.compile`` with ``compile_mode``; the state_dict keys
            stay those of the plain network, so checkpoints load either way.
        mean, std: the data config's per-channel normalisation (0..1 scale). Batches arrive as
            uint8 and are normalised on the device after the transfer (``normalise``); stored in
            the checkpoint's hyperparameters.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        arch: str = ARCH,
        encoder_name: str = ENCODER,
        encoder_weights: str | None = None,
        ignore_index: int = 255,
        loss: CompositeLoss | None = None,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        run_config: dict | None = None,
        model_kwargs: dict | None = None,
        on_nan: str = "skip",
        channels_last: bool = False,
        compile: bool = False,
        compile_mode: str = "default",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if on_nan not in ("skip", "stop"):
            raise ValueError(
                f"model.on_nan (until this release trainer.on_nan) must be 'skip' or 'stop', "
                f"got {on_nan!r}"
            )
        # logger=False: trackers get the whole config once (runs.tracking.log_config), not the
        # model's arguments a second time under bare names
        self.save_hyperparameters(
            ignore=["loss", "optimizer", "scheduler", "run_config"], logger=False
        )
        self.class_names = list(class_names)
        self.net = build_network(
            self.class_names, arch, encoder_name, encoder_weights, model_kwargs, channels_last
        )
        self.channels_last = channels_last
        if compile:
            self.net.compile(mode=_check_compile_mode(compile_mode))
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.run_config = run_config
        # the data's on-device augmentation of training batches, taken from it in ``setup``
        self.batch_augment: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None
        # one matrix per split: attributes, since a ModuleDict key 'train' shadows Module.train
        for split in SPLITS:
            setattr(
                self, f"{split}_confusion", ConfusionMatrix(len(self.class_names), ignore_index)
            )
        # not in the state_dict, so checkpoints from before device-side normalisation still load
        self.register_buffer("pixel_mean", channel_vector(mean), persistent=False)
        self.register_buffer("pixel_std", channel_vector(std), persistent=False)
        self.register_buffer("best_val_f1", torch.tensor(0.0))
        self.register_buffer("skipped_steps", torch.tensor(0))
        self.last_confusion: dict[str, Tensor] = {}

    def logged_metric_names(self) -> list[str]:
        """Every name this module logs, so a misspelt ``optimized_metric`` fails before fit."""
        names = ["train/loss", "val/loss", "test/loss", "val/f1_best", "train/skipped_steps"]
        names += [f"train/loss_{term}" for term in (self.loss.terms if self.loss else ())]
        for split in SPLITS:
            names.append(f"{split}/f1")
            names += [f"{split}/f1_{name}" for name in self.class_names]
        return names

    def setup(self, stage: str) -> None:
        """The datamodule's ``setup`` has run by now and placed its augmentation steps."""
        datamodule = self._trainer.datamodule if self._trainer is not None else None
        self.batch_augment = getattr(datamodule, "batch_augment", None)

    def normalise(self, images: Tensor) -> Tensor:
        """uint8 [B, 3, H, W] pixels -> the float input the network is trained on."""
        return normalise_pixels(images, self.pixel_mean, self.pixel_std)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Augmented, normalised and widened here, on the device: the loader ships uint8 images
        (a quarter of float32's bytes) and uint8 masks (an eighth of int64's). A float batch is
        taken as already normalised."""
        if "mask" in batch:
            batch["mask"] = batch["mask"].long()
        if batch["image"].dtype == torch.uint8:
            images = batch["image"]
            if self.training and self.batch_augment is not None and "mask" in batch:
                seed = self._batch_seed()
                images, batch["mask"] = self.batch_augment(images, batch["mask"], seed)
            batch["image"] = self.normalise(images)
        return batch

    def _batch_seed(self) -> int:
        """From the run's seed, the batches made ready so far (restored on resume) and the rank."""
        trainer = self._trainer
        if trainer is None:
            return batch_seed(torch.initial_seed(), 0, 0)
        batches = trainer.fit_loop.epoch_loop.batch_progress.total.ready
        return batch_seed(torch.initial_seed(), batches, trainer.global_rank)

    def forward(self, image: Tensor) -> Tensor:
        return run_network(self.net, image, self.channels_last)

    def _step(self, batch: dict, split: str) -> Tensor | None:
        if self.loss is None:
            raise RuntimeError("SegmentationModule was built without a loss; it can only predict")
        logits = self(batch["image"])
        total, terms = self.loss.forward_terms(logits, batch["mask"])
        if split == "train" and not torch.isfinite(total):
            return self._non_finite(batch, terms)
        self._confusion(split).update(logits, batch["mask"])
        # sync_dist: under DDP the epoch's loss is over every rank's images, not rank 0's alone;
        # a float size, since Lightning averages an integer count over ranks in integers (a
        # split of 5 images over 2 ranks would count 2 per rank, 4 in all)
        size = float(batch["image"].shape[0])
        epoch = {"on_step": False, "on_epoch": True, "batch_size": size, "sync_dist": True}
        self.log(f"{split}/loss", total, **epoch)
        if split == "train":
            for name, value in terms.items():
                self.log(f"train/loss_{name}", value, **epoch)
            self.log("loss", total, prog_bar=True, logger=False, on_step=True, on_epoch=False)
        return total

    def _non_finite(self, batch: dict, terms: dict[str, Tensor]) -> None:
        """Returning None makes Lightning skip the backward pass and the optimizer step."""
        bad = [name for name, value in terms.items() if not torch.isfinite(value)]
        message = (
            f"non-finite loss at step {self.global_step} (terms {', '.join(bad) or 'total'}) "
            f"on batch {', '.join(map(str, batch.get('name', [])))}"
        )
        if self.hparams.on_nan == "stop":
            raise FloatingPointError(message + "; stopped (model.on_nan=stop)")
        self.skipped_steps += 1
        log.warning("%s; step skipped (model.on_nan=skip)", message)
        return None

    def training_step(self, batch: dict, batch_idx: int) -> Tensor | None:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "test")

    def _confusion(self, split: str) -> ConfusionMatrix:
        return getattr(self, f"{split}_confusion")

    def running_f1(self, split: str) -> float | None:
        """The mean F1 of the epoch so far, for the progress bar: this process's batches only
        (no sync between ranks at every refresh); None before the first batch."""
        confmat = self._confusion(split).confmat
        return f1_from_confusion(confmat)[1] if confmat.sum() > 0 else None

    def _log_f1(self, split: str) -> float:
        """Log ``<split>/f1`` and one ``<split>/f1_<class>`` per class, then reset the matrix."""
        matrix = self._confusion(split)
        confmat = matrix.compute()
        matrix.reset()
        per_class, mean = f1_from_confusion(confmat)
        self.last_confusion[split] = confmat.cpu()
        # already global (torchmetrics sums the matrix over DDP ranks): sync_dist only averages
        # equal values, once per epoch, and keeps Lightning from warning about every class
        self.log(f"{split}/f1", mean, prog_bar=split != "test", sync_dist=True)
        for name, value in zip(self.class_names, per_class.tolist(), strict=True):
            self.log(f"{split}/f1_{name}", value, sync_dist=True)
        return mean

    def on_train_epoch_end(self) -> None:
        self._log_f1("train")
        self.log("train/skipped_steps", self.skipped_steps.float(), sync_dist=True, reduce_fx="sum")

    def on_validation_epoch_end(self) -> None:
        mean = self._log_f1("val")
        if not self.trainer.sanity_checking:
            self.best_val_f1.fill_(max(self.best_val_f1.item(), mean))
        self.log("val/f1_best", self.best_val_f1.item(), sync_dist=True)  # equal on every rank

    def on_test_epoch_end(self) -> None:
        self._log_f1("test")

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise RuntimeError("SegmentationModule needs an optimizer to train")
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }

    def on_train_start(self) -> None:
        """After a resume restored the scheduler: its ``T_max`` is the config's again."""
        if self.scheduler_factory is not None and self.trainer.lr_scheduler_configs:
            t_max = getattr(self.scheduler_factory, "keywords", {}).get("T_max")
            stretch_cosine(self.trainer.lr_scheduler_configs[0].scheduler, t_max)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rng_states"] = capture_rng_states()
        checkpoint["class_names"] = self.class_names
        if self.run_config is not None:
            checkpoint["config"] = self.run_config
            checkpoint["framing"] = framing_of(self.run_config.get("data"))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """When fit resumes, this runs just before the first shuffle draws from the RNGs. A
        checkpoint from before the model normalised its own input gets its data config's."""
        stored = stored_normalisation(checkpoint)
        if stored is not None:
            mean, std = stored
            self.pixel_mean.copy_(channel_vector(mean))
            self.pixel_std.copy_(channel_vector(std))
            self.hparams.update(mean=mean, std=std)
        resuming = self._trainer is not None and self.trainer.state.fn == "fit"
        if resuming and "rng_states" in checkpoint:
            restore_rng_states(checkpoint["rng_states"])

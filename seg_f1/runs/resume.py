"""Runs that survive a kill: RNG state in checkpoints, last.ckpt on SIGTERM/SIGUSR1, a metrics
CSV that continues instead of restarting, and ``resume=<run_dir>`` / ``ckpt_path=last``.

Lightning 2.6 writes checkpoints through an fsspec transaction whose temporary file lives in the
system temp folder; when that is another filesystem the final move is a copy into the target, so
a kill can leave a half-written ``last.ckpt``. ``AtomicCheckpointIO`` writes beside the target
and renames instead.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import shlex
import signal
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.optim.lr_scheduler import CosineAnnealingLR

from seg_f1.runs.checkpoints import load_checkpoint, save_torch
from seg_f1.runs.io import raise_if_unwritable, write_atomically, written_files
from seg_f1.runs.results import task_overrides

log = logging.getLogger(__name__)

LAST = "last.ckpt"


def capture_rng_states() -> dict[str, Any]:
    """Every generator a training step draws from, so a resumed run shuffles the same way."""
    return {
        "python": random.getstate(),
        "numpy": _plain_numpy_state(),
        "torch": torch.get_rng_state(),
    }


def _plain_numpy_state() -> tuple:
    """NumPy's state without an ndarray, so ``torch.load(weights_only=True)`` still reads it."""
    name, keys, position, has_gauss, cached = np.random.get_state()
    return name, keys.tolist(), int(position), int(has_gauss), float(cached)


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    name, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])


class AtomicCheckpointIO(TorchCheckpointIO):
    """Serialise to a temporary file in the checkpoint's own folder, then rename it into place;
    load through ``seg_f1.runs.checkpoints`` (never arbitrary pickle, whatever Lightning asks)."""

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict:
        return load_checkpoint(path, map_location=map_location)

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        """A full disk or an unwritable folder ends in one line naming the file and the bytes
        it needed (torch's own error names neither); the previous file stays as it was."""
        save_torch(checkpoint, path, sync=True)


def resume_command(run_dir: str | Path) -> str:
    """The command that continues this run in place: this command's own overrides (not a
    placeholder), with ``resume=`` pointing at its folder, quoted for a POSIX shell."""
    replaced = ("resume=", "ckpt_path=", "+resume=", "+ckpt_path=")
    kept = [o for o in task_overrides() if not o.startswith(replaced)]
    return shlex.join(["python", "train.py", *kept, f"resume={run_dir}"])


def find_checkpoint(run_dir: Path) -> Path:
    """``last.ckpt`` of a run directory, else its newest checkpoint."""
    folder = Path(run_dir) / "checkpoints"
    if (folder / LAST).is_file():
        return folder / LAST
    candidates = sorted(written_files(folder, "*.ckpt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileNotFoundError(f"resume: no checkpoint in {folder}; is {run_dir} a seg_f1 run?")
    return candidates[-1]


def resolve_ckpt_path(ckpt_path: str | None, resume: str | None, output_dir: Path) -> str | None:
    """``resume=<run_dir>``: that run's last checkpoint; ``ckpt_path=last``: this run's."""
    if resume:
        if not Path(resume).is_dir():
            raise FileNotFoundError(f"resume={resume}: no such run directory")
        if ckpt_path not in (None, "last"):
            raise ValueError(f"set either resume={resume} or ckpt_path={ckpt_path}, not both")
        return str(find_checkpoint(Path(resume)))
    if ckpt_path == "last":
        last = Path(output_dir) / "checkpoints" / LAST
        if not last.is_file():
            log.warning("ckpt_path=last: no %s yet, so this run starts from scratch", last)
            return None
        return str(last)
    if ckpt_path is not None and not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such file")
    return ckpt_path


class ContinuingWriter(ExperimentWriter):
    """Lightning's CSV writer, except that an existing ``metrics.csv`` is continued.

    Rows at ``step >= keep_before_step`` are dropped first: a resumed run logs them again. A file
    that is not continued (``ckpt_path=last`` before any checkpoint) is kept as
    ``metrics.previous.csv``, or ``metrics.previous-2.csv`` ... beside earlier ones.
    """

    def __init__(self, log_dir: str, keep_before_step: int | None) -> None:
        path = Path(log_dir) / self.NAME_METRICS_FILE
        aside = _unused(path.with_name("metrics.previous.csv"))
        if path.is_file():
            os.replace(path, aside)
        super().__init__(log_dir)
        if aside.is_file() and keep_before_step is not None:
            self._continue(aside, keep_before_step)

    def _check_log_dir_exists(self) -> None:
        """Silent: the log folder is the run directory (``.hydra/`` is always there), and no file
        in it is deleted, as Lightning's warning would claim: an earlier ``metrics.csv`` is
        continued or kept aside."""

    def save(self) -> None:
        """Lightning's append, with a full disk or an unwritable folder named in one line."""
        try:
            super().save()
        except OSError as error:
            raise_if_unwritable(Path(self.metrics_file_path), error)
            raise

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        """Through a temporary file: Lightning's truncates first, so a full disk would lose
        every row logged so far."""
        with open(self.metrics_file_path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        self._write_rows(fieldnames, rows)

    def _write_rows(self, header: list[str], rows: list[dict]) -> None:
        def write_rows(tmp: Path) -> None:
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=header)
                writer.writeheader()
                writer.writerows(rows)

        write_atomically(Path(self.metrics_file_path), write_rows)

    def _continue(self, previous: Path, keep_before_step: int) -> None:
        with open(previous, newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = [row for row in reader if row["step"] and int(row["step"]) < keep_before_step]
        self._write_rows(header, rows)
        previous.unlink()
        self.metrics_keys = header
        log.info("continuing %s: kept %d rows before step %d", self.metrics_file_path, len(rows),
                 keep_before_step)  # fmt: skip


def _unused(path: Path) -> Path:
    """``path``, or the first of ``<stem>-2<suffix>``, ``<stem>-3<suffix>`` ... not taken."""
    number = 1
    while path.exists():
        number += 1
        path = path.with_name(f"{path.stem.rsplit('-', 1)[0]}-{number}{path.suffix}")
    return path


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose metrics file survives a resume (set ``resume_from_step`` first)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resume_from_step: int | None = None

    @property
    @rank_zero_experiment
    def experiment(self) -> ContinuingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingWriter(self.log_dir, self.resume_from_step)
        return self._experiment


class PreemptionCheckpoint(Callback):
    """Write ``last.ckpt`` when the job is told to stop (SIGTERM, or SIGUSR1 as SLURM's
    ``--signal=USR1@90`` sends), so a preempted run resumes with ``resume=<run_dir>``."""

    def __init__(self, signals: tuple[str, ...] = ("SIGUSR1",)) -> None:
        self.signals = [getattr(signal, name) for name in signals]
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        explain_mid_epoch_resume(trainer)
        for signum in self.signals:  # SIGTERM is Lightning's: it raises SIGTERMException
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                self._previous[signum] = signal.signal(signum, self._request)

    def _request(self, signum: int, frame: Any) -> None:
        self.requested = signum

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.requested is not None:
            raise SIGTERMException()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, error: BaseException):
        if isinstance(error, SIGTERMException) and trainer.checkpoint_callback is not None:
            path = Path(trainer.checkpoint_callback.dirpath) / LAST
            # a save, not a load: the whole state (optimizer, loops, callbacks), said explicitly
            trainer.save_checkpoint(path, weights_only=False)
            log.warning("stopped by a signal at step %d; wrote %s", trainer.global_step, path)
        self.teardown(trainer, pl_module, "fit")

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


def explain_mid_epoch_resume(trainer: L.Trainer) -> None:
    """What Lightning's "dataloader is not resumable ... unreliable results" warning means for
    this run, said in its numbers (the warning itself is silenced in ``quiet_lightning``): a
    stop mid-epoch resumes the epoch's step count, not the loader's place in its shuffle."""
    batches = trainer.num_training_batches
    if not trainer.ckpt_path or not batches or math.isinf(batches):
        return
    per_epoch = math.ceil(batches / trainer.accumulate_grad_batches)
    done = trainer.global_step % per_epoch
    if done:
        log.info(
            "resumed mid-epoch: epoch %d had done %d of its %d steps; the data loader does not "
            "store its place, so the other %d are drawn from a fresh shuffle (an image may come "
            "twice in this epoch, another not at all); the next epochs are whole",
            trainer.current_epoch + 1, done, per_epoch, per_epoch - done,
        )  # fmt: skip


def stretch_cosine(scheduler: Any, t_max: int | None) -> None:
    """A checkpoint's ``CosineAnnealingLR`` keeps the ``T_max`` of the run that wrote it, so a
    run continued to more epochs would train its extra ones at ``eta_min``. The cosine is
    stretched to this run's ``T_max``: the lr moves to where the longer curve is at this epoch
    (up, for a run that had finished) and decays from there to ``eta_min`` at the new end."""
    if not isinstance(scheduler, CosineAnnealingLR) or not t_max or scheduler.T_max == t_max:
        return
    old, epoch, low = scheduler.T_max, scheduler.last_epoch, scheduler.eta_min
    scheduler.T_max = t_max
    groups = scheduler.optimizer.param_groups
    for group, base in zip(groups, scheduler.base_lrs, strict=True):
        group["lr"] = low + (base - low) * (1 + math.cos(math.pi * epoch / t_max)) / 2
    scheduler._last_lr = [group["lr"] for group in groups]
    log.warning(
        "the checkpoint's cosine schedule ran over T_max=%d epochs; stretched to T_max=%d, so "
        "epoch %d continues at lr %.3g", old, t_max, epoch + 1, groups[0]["lr"],
    )  # fmt: skip

"""What a run prints while it trains, sized for an 80-column terminal, without the console
messages a user cannot act on (dropped at their source, so every warning that asks for a change
stays visible)."""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from typing import Any

from lightning.pytorch.callbacks import Callback, RichModelSummary, RichProgressBar
from lightning.pytorch.callbacks.progress.rich_progress import (
    BatchesProcessedColumn,
    CustomBarColumn,
)
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.model_summary.model_summary import (
    get_formatted_model_size,
    get_human_readable_count,
)
from rich import get_console
from rich.progress import TextColumn, TimeRemainingColumn
from rich.table import Table

from seg_f1.callbacks.history import finished_epoch_metrics
from seg_f1.runs.results import is_first_process


class ProgressBar(RichProgressBar):
    """Lightning's Rich bar without the elapsed time and it/s columns, so that the bar, the
    batch count, the time left and ``loss``, ``val/f1``, ``train/f1`` fit on one 80-column line
    (up to 99 epochs and 999 batches). ``train/f1`` is the epoch's so far."""

    def __init__(self, bar_width: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bar_width = bar_width

    def get_metrics(self, trainer, pl_module) -> dict:
        """While fitting, ``train/f1`` is the running F1 of the epoch in progress: the logged
        one is only computed as an epoch ends, so it would show the epoch before all along."""
        items = super().get_metrics(trainer, pl_module)
        if trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking:
            return items
        items.pop("train/f1", None)
        running = getattr(pl_module, "running_f1", None)
        f1 = running("train") if running else None
        return items if f1 is None else {**items, "train/f1": f1}

    def _get_train_description(self, current_epoch: int) -> str:
        """``Epoch 1/3`` for the first of three, as the epoch line says it (Lightning's bar
        says ``Epoch 0/2``)."""
        epochs = self.trainer.max_epochs
        text = f"Epoch {current_epoch + 1}" + (f"/{epochs}" if epochs and epochs > 0 else "")
        return f"{text:{len(self.validation_description)}}"

    def configure_columns(self, trainer) -> list:
        return [
            TextColumn("[progress.description]{task.description}"),
            CustomBarColumn(
                bar_width=self.bar_width,
                complete_style=self.theme.progress_bar,
                finished_style=self.theme.progress_bar_finished,
                pulse_style=self.theme.progress_bar_pulse,
            ),
            BatchesProcessedColumn(style=self.theme.batch_progress),
            TimeRemainingColumn(compact=True),
        ]


class ModelSummary(RichModelSummary):
    """Lightning's summary table without its FLOPs column and "Total FLOPs: 0" line: FLOPs are
    only counted for a module with an ``example_input_array``, which this one leaves unset (a
    forward pass at fit start for a number nobody asked for)."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        counted = total_flops > 0
        columns = [(name, values) for name, values in summary_data if counted or name != "FLOPs"]
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for name, _ in columns:
            table.add_column(name, justify="left" if name in ("Name", "Type", "Mode") else "right")
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        console = get_console()
        console.print(table)
        frozen = total_parameters - trainable_parameters
        lines = [
            f"Trainable params: {get_human_readable_count(int(trainable_parameters))}",
            f"Non-trainable params: {get_human_readable_count(int(frozen))}",
            f"Total params: {get_human_readable_count(int(total_parameters))}",
            f"Estimated params size (MB): {get_formatted_model_size(model_size)}",
            f"Modules in train / eval mode: {total_training_modes['train']} / "
            f"{total_training_modes['eval']}",
        ]
        if counted:
            lines.append(f"Total FLOPs: {get_human_readable_count(total_flops)}")
        console.print("\n".join(lines), highlight=False)


# Lightning's advertisements for litlogger and litmodels, and its note that it uses our summary
UNACTIONABLE = ("💡 Tip:", "Trainer already configured with model summary callbacks")


class DropUnactionable(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(UNACTIONABLE)


def quiet_other_ranks() -> None:
    """Every DDP rank runs the whole command: the others keep their warnings and errors, but
    their info lines (run directory, split sizes, the best F1) would repeat rank 0's."""
    if not is_first_process():
        logging.getLogger("seg_f1").setLevel(logging.WARNING)


def quiet_lightning() -> None:
    """Idempotent: the filter is added once per logger. Lightning's own use of a deprecated
    torch pytree check (``lightning/pytorch/utilities/_pytree.py``) is Lightning's to fix."""
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    # said in the run's own numbers by seg_f1.runs.resume.explain_mid_epoch_resume
    warnings.filterwarnings(
        "ignore", message=r"You're resuming from a checkpoint that ended before"
    )
    # the summary's size estimate under bf16-mixed: informative only, and the choice is logged
    warnings.filterwarnings("ignore", message=r"Precision .* is not supported by the model summary")
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropUnactionable) for f in logger.filters):
            logger.addFilter(DropUnactionable())


class EpochLine(Callback):
    """One plain line per finished epoch (train/val loss and F1, lr, seconds) through the run's
    logger: ``train.log`` always keeps it, and so does a console that is not a terminal (SLURM,
    ``make ablation``), where the Rich bar leaves only its last frame. On a terminal the bar
    already shows these numbers, so the line goes to the log file only.

    ``train/f1`` is logged after the callbacks' ``on_train_epoch_end``, so an epoch's line is
    written when the next one starts, or at the end of training."""

    def __init__(self) -> None:
        self.started = 0.0
        self.lr = math.nan
        self.whole = True  # False for an epoch resumed mid-way: its seconds are this part's
        self.pending: tuple[int, float, float, bool] | None = None  # epoch, lr, seconds, whole

    def on_train_start(self, trainer, pl_module) -> None:
        """A run resumed mid-epoch starts there without ``on_train_epoch_start``."""
        self.start_clock(trainer)
        self.whole = False

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.flush(trainer)
        self.start_clock(trainer)
        self.whole = True

    def start_clock(self, trainer) -> None:
        self.started = time.monotonic()
        # the rate this epoch trains with: by its end an epoch-interval scheduler has stepped
        self.lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else math.nan

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        seconds = time.monotonic() - self.started
        self.pending = (trainer.current_epoch, self.lr, seconds, self.whole)

    def on_train_end(self, trainer, pl_module) -> None:
        self.flush(trainer)

    def flush(self, trainer) -> None:
        if self.pending is None or not trainer.is_global_zero:
            return
        epoch, lr, seconds, whole = self.pending
        self.pending = None
        metrics = finished_epoch_metrics(trainer)
        emit(epoch_line(epoch, trainer.max_epochs, metrics, lr, seconds, whole))


def epoch_line(
    epoch: int, epochs: int, metrics: dict, lr: float, seconds: float, whole: bool = True
) -> str:
    """Epochs counted from 1, as the progress bar and the figures count them."""
    timed = f"{seconds:.1f} s" if whole else f"{seconds:.1f} s since resuming"
    return (
        f"epoch {epoch + 1}/{epochs}: train loss {metrics['train/loss']:.4f} "
        f"F1 {metrics['train/f1']:.4f} | val loss {metrics['val/loss']:.4f} "
        f"F1 {metrics['val/f1']:.4f} | lr {lr:.3g} | {timed}"
    )


def emit(line: str) -> None:
    log = logging.getLogger("seg_f1.epochs")
    if not sys.stdout.isatty():
        log.info(line)
        return
    record = log.makeRecord(log.name, logging.INFO, __file__, 0, line, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)

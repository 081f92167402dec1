"""The loss-vs-F1 curve diagnosis as a callback: do the loss curves and the F1 curves agree?

Over the last ``window`` epochs a least-squares slope is fitted to ``train/loss``, ``val/loss``
(relative to their mean, per epoch) and ``train/f1``, ``val/f1`` (absolute, per epoch). The four
slopes place the run in one of four cases; ``0`` means no case fits (e.g. a plateau). A flat
val F1 while the learning rate has run down (under ``annealed`` of its peak: the second half
of a cosine) is convergence as scheduled (case 5), not a surrogate that stopped moving F1.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_only

from seg_f1.callbacks.history import CURVE_KEYS, EpochHistory, finished_epoch_metrics
from seg_f1.report.files import save_text
from seg_f1.report.tables import Column, Table, markdown

log = logging.getLogger(__name__)

UNCLEAR, HEALTHY, SURROGATE_STALLED, OVERFITTING, LR_TOO_HIGH, ANNEALING = range(6)

CASES = {
    UNCLEAR: ("no clear trend", "keep training, or check that the loss moves at all"),
    HEALTHY: ("loss down, F1 up: healthy", "nothing to change"),
    SURROGATE_STALLED: (
        "loss down but val F1 flat: the surrogate is not moving F1",
        "raise loss.dice_weight or add class weights (loss.class_weights=median_freq)",
    ),
    OVERFITTING: (
        "train loss down but val F1 down or val loss up: overfitting",
        "raise optimizer.weight_decay, use stronger augmentation (data/augment=strong) "
        "or stop early",
    ),
    LR_TOO_HIGH: (
        "loss up with F1 up, or the loss oscillates: learning rate too high",
        "lower optimizer.lr (e.g. by 3x)",
    ),
    ANNEALING: (
        "loss down, val F1 flat while the learning rate runs down: converging as scheduled",
        "nothing to change; for more F1, train longer (trainer.max_epochs: the schedule then "
        "anneals later)",
    ),
}


@dataclass(frozen=True)
class Thresholds:
    """``loss_tol``: relative loss change per epoch that counts as a move; ``f1_tol``: absolute
    F1 change per epoch; ``oscillation``: relative size of every step of a loss that flips sign;
    ``annealed``: the share of its peak under which the learning rate has run down."""

    loss_tol: float = 0.01
    f1_tol: float = 0.005
    oscillation: float = 0.1
    annealed: float = 0.5

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"callbacks.curve_diagnosis.{name} must be > 0, got {value}")


@dataclass(frozen=True)
class Verdict:
    epoch: int
    case: int
    slopes: dict[str, float]
    oscillating: bool

    @property
    def text(self) -> str:
        return CASES[self.case][0]

    @property
    def suggestion(self) -> str:
        return CASES[self.case][1]


def slope(values: list[float]) -> float:
    """Least-squares slope per epoch."""
    x = np.arange(len(values), dtype=float)
    return float(np.polyfit(x, np.asarray(values, dtype=float), 1)[0])


def relative_slope(values: list[float]) -> float:
    scale = float(np.mean(np.abs(values)))
    return slope(values) / scale if scale > 0 else 0.0


def oscillates(values: list[float], size: float) -> bool:
    """Every step at least ``size`` of the mean, and the steps change direction."""
    steps = np.diff(np.asarray(values, dtype=float))
    scale = float(np.mean(np.abs(values)))
    if len(steps) < 2 or scale == 0:
        return False
    flips = np.sum(np.sign(steps[1:]) != np.sign(steps[:-1]))
    return bool(flips >= 1 and np.all(np.abs(steps) / scale >= size))


def classify(
    history: dict[str, list[float]],
    window: int,
    thresholds: Thresholds,
    epoch: int = 0,
    lr_share: float | None = None,
) -> Verdict | None:
    """The case of the last ``window`` epochs; None until every curve has ``window`` values.
    ``lr_share``: the last epoch's learning rate over the run's peak, where known."""
    tails = {key: list(history.get(key, []))[-window:] for key in CURVE_KEYS}
    if any(len(tail) < window or not all(map(math.isfinite, tail)) for tail in tails.values()):
        return None
    slopes = {
        "train/loss": relative_slope(tails["train/loss"]),
        "val/loss": relative_slope(tails["val/loss"]),
        "train/f1": slope(tails["train/f1"]),
        "val/f1": slope(tails["val/f1"]),
    }
    oscillating = any(
        oscillates(tails[key], thresholds.oscillation) for key in ("train/loss", "val/loss")
    )
    loss_down = slopes["train/loss"] < -thresholds.loss_tol
    loss_up = slopes["train/loss"] > thresholds.loss_tol
    f1_up = slopes["val/f1"] > thresholds.f1_tol
    f1_down = slopes["val/f1"] < -thresholds.f1_tol
    if oscillating or (loss_up and f1_up):
        case = LR_TOO_HIGH
    elif loss_down and (f1_down or slopes["val/loss"] > thresholds.loss_tol):
        case = OVERFITTING
    elif loss_down and not f1_up:
        annealing = lr_share is not None and lr_share < thresholds.annealed
        case = ANNEALING if annealing else SURROGATE_STALLED
    elif loss_down:
        case = HEALTHY
    else:
        case = UNCLEAR
    return Verdict(epoch, case, slopes, oscillating)


def render_markdown(verdicts: list[Verdict], window: int, thresholds: Thresholds) -> str:
    """Epochs counted from 1, as the epoch line says them (a verdict's ``epoch``, like
    metrics.csv and diagnosis.json, counts from 0)."""
    lines = ["# Curve diagnosis", ""]
    if not verdicts:
        lines += [f"No verdict: the run had fewer than {window} complete epochs.", ""]
    else:
        final = verdicts[-1]
        lines += [
            f"**Final verdict (epoch {final.epoch + 1}): case {final.case}, {final.text}.**",
            "",
            f"Suggestion: {final.suggestion}.",
            "",
        ]
    lines += [
        f"Window: {window} epochs. Thresholds: a loss moves when its least-squares slope "
        f"exceeds {thresholds.loss_tol:g} of its mean per epoch; F1 moves when its slope exceeds "
        f"{thresholds.f1_tol:g} per epoch; a loss oscillates when every step is at least "
        f"{thresholds.oscillation:g} of its mean and the steps change direction; the learning "
        f"rate has run down under {thresholds.annealed:g} of its peak.",
        "",
    ]
    signed = "{:+.4f}".format
    columns = [
        Column("epoch"), Column("case"), Column("verdict"),
        Column("train/loss slope (rel)", signed), Column("val/loss slope (rel)", signed),
        Column("train/f1 slope", signed), Column("val/f1 slope", signed),
        Column("oscillating", lambda yes: "yes" if yes else "no"),
    ]  # fmt: skip
    rows = [
        [v.epoch + 1, v.case, v.text, *(v.slopes[k] for k in CURVE_KEYS), v.oscillating]
        for v in verdicts
    ]
    return "\n".join(lines) + "\n" + markdown(Table(columns, rows))


def lr_share(epoch_lr: dict[int, float], epoch: int) -> float | None:
    """``epoch``'s learning rate over the peak of the epochs up to it, where known."""
    peak = max((lr for e, lr in epoch_lr.items() if e <= epoch), default=0.0)
    lr = epoch_lr.get(epoch)
    return None if lr is None or peak <= 0 else lr / peak


class CurveDiagnosis(L.Callback):
    """Logs ``diag/case`` per finished epoch once ``window`` epochs exist, prints the verdict,
    and writes ``<output_dir>/diagnosis.md`` at the end of fit, with ``diagnosis.json`` beside
    it: the window, thresholds and verdicts, so a replay (the notebook) uses the same ones."""

    def __init__(
        self,
        output_dir: str | None = None,
        window: int = 3,
        loss_tol: float = 0.01,
        f1_tol: float = 0.005,
        oscillation: float = 0.1,
        filename: str = "diagnosis.md",
        annealed: float = 0.5,
    ) -> None:
        if window < 2:
            raise ValueError(f"callbacks.curve_diagnosis.window must be >= 2, got {window}")
        self.output_dir = output_dir
        self.window = window
        self.thresholds = Thresholds(loss_tol, f1_tol, oscillation, annealed)
        self.filename = filename
        self.history = EpochHistory()
        self.verdicts: list[Verdict] = []
        self.epoch_lr: dict[int, float] = {}

    def observe(self, epoch: int, metrics: dict[str, float]) -> Verdict | None:
        """Add one finished epoch; the verdict once the window is full."""
        if not self.history.record(epoch, metrics):
            return None
        series = {key: self.history.series(key) for key in CURVE_KEYS}
        verdict = classify(series, self.window, self.thresholds, epoch, self._lr_share(epoch))
        if verdict is not None:
            self.verdicts.append(verdict)
        return verdict

    def _lr_share(self, epoch: int) -> float | None:
        return lr_share(self.epoch_lr, epoch)

    def _observe_finished(self, trainer: L.Trainer, epoch: int) -> None:
        if trainer.sanity_checking or epoch < 0:
            return
        verdict = self.observe(epoch, finished_epoch_metrics(trainer))
        if verdict is None:
            return
        for logger in trainer.loggers:  # with its epoch, as Lightning logs the module's metrics
            case = {"diag/case": float(verdict.case), "epoch": epoch}
            logger.log_metrics(case, step=trainer.global_step)
        self._announce(verdict)

    @rank_zero_only
    def _announce(self, verdict: Verdict) -> None:
        log.info(
            "diagnosis epoch %d: case %d, %s -> %s",
            verdict.epoch + 1, verdict.case, verdict.text, verdict.suggestion,
        )  # fmt: skip

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._observe_finished(trainer, trainer.current_epoch - 1)
        if trainer.optimizers:  # the rate this epoch trains with, after the scheduler stepped
            self.note_lr(trainer.current_epoch, trainer.optimizers[0].param_groups[0]["lr"])

    def note_lr(self, epoch: int, lr: float) -> None:
        """The learning rate ``epoch`` trains with: a flat F1 late in a schedule is expected."""
        self.epoch_lr[epoch] = float(lr)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._observe_finished(trainer, trainer.current_epoch - 1)
        if trainer.is_global_zero:
            root = Path(self.output_dir or trainer.default_root_dir)
            save_text(self.report(), root / self.filename)
            settings = {"window": self.window, "thresholds": asdict(self.thresholds),
                        "verdicts": [asdict(v) for v in self.verdicts],
                        "epoch_lr": self.epoch_lr}  # fmt: skip
            save_text(json.dumps(settings, indent=2), (root / self.filename).with_suffix(".json"))

    def report(self) -> str:
        return render_markdown(self.verdicts, self.window, self.thresholds)

    def state_dict(self) -> dict:
        return {
            "history": self.history.state_dict(),
            "verdicts": [asdict(v) for v in self.verdicts],
            "epoch_lr": dict(self.epoch_lr),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.history.load_state_dict(state_dict.get("history", {}))
        self.verdicts = [Verdict(**v) for v in state_dict.get("verdicts", [])]
        self.epoch_lr = {int(k): float(v) for k, v in state_dict.get("epoch_lr", {}).items()}

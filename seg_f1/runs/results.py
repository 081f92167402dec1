"""One ``result.json`` per run, so a sweep can be read back while it runs, after a crash, or later.

A run that raises, or whose objective is NaN, is recorded as ``failed`` with its error. Inside a
multirun the failure is then swallowed (the objective becomes NaN), so one bad trial neither
stops the sweep nor loses the results of the others; a single run re-raises as before. A run
stopped by a pruner is recorded as ``pruned`` and :class:`Pruned` reaches the sweeper; one
stopped by Ctrl-C, SIGTERM or SIGHUP as ``interrupted``. The record must never keep saying
``running`` for a run that ended: when the run folder refuses the file, it is rewritten in place,
else written under ``<temp dir>/seg_f1-records/``, and always printed to stderr.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from seg_f1 import counted
from seg_f1.runs.record_files import read_result, save_record, write_json_atomic

RESULT_FILE = "result.json"


STOP_SIGNALS = ("SIGTERM", "SIGHUP")  # what a scheduler or a closed terminal sends


class Pruned(Exception):
    """A pruner stopped the run after ``epochs`` epochs; ``best`` is its best value so far."""

    def __init__(self, epochs: int, best: float | None) -> None:
        super().__init__(f"pruned after {counted(epochs, 'epoch')} (best so far {best})")
        self.epochs = epochs
        self.best = best

    def __reduce__(self):
        """Pickled by submitit on its way back from the job's process (Exception's default
        would call ``Pruned(message)``)."""
        return Pruned, (self.epochs, self.best)


class RunRecord:
    """What a run reports about itself; ``observe`` is called once the trainer has finished."""

    def __init__(self, cfg: DictConfig) -> None:
        self.data: dict[str, Any] = {
            "status": "running",
            "overrides": task_overrides(),
            "optimized_metric": cfg.get("optimized_metric"),
            "seed": cfg.get("seed"),
            "best": None,
            "test_f1": None,
            "per_class_f1": {},
            "per_class_split": None,
            "class_pixels": {},
            "epochs": 0,
            "wall_time_s": None,
            "error": None,
        }

    def observe_progress(self, trainer: Any) -> None:
        """What a run that did not finish has still done: the epochs that ran, the best value
        so far and the best checkpoint, when its file exists (the record of a failed or stopped
        run must not read as if nothing had happened)."""
        self.data["epochs"] = int(trainer.current_epoch)
        callback = getattr(trainer, "checkpoint_callback", None)
        path, score = (
            getattr(callback, "best_model_path", ""),
            getattr(callback, "best_model_score", None),
        )
        if path and not Path(path).is_file():  # Lightning names the best before it is saved
            path, score = _saved_best(Path(path).parent)
        if path:
            self.data["best_checkpoint"] = str(path)
        if score is not None and self.data["best"] is None:
            self.data["best"] = _finite_or_none(float(score))

    def observe(self, trainer: Any, module: Any, best: float) -> None:
        """Take the objective, the epoch count, per-class F1 and each class's pixel count on the
        split it was measured on (test if it ran, else the last validation)."""
        # here, not at the top: Hydra imports this module in every command through the sweeper
        # plugin, and seg_f1.metrics loads torchmetrics (and with it matplotlib)
        from seg_f1.metrics import f1_from_confusion

        self.observe_progress(trainer)
        self.data["best"] = best
        test_f1 = trainer.callback_metrics.get("test/f1")
        self.data["test_f1"] = None if test_f1 is None else float(test_f1)
        split = next((s for s in ("test", "val") if s in module.last_confusion), None)
        if split is not None:
            per_class, _ = f1_from_confusion(module.last_confusion[split])
            self.data["per_class_split"] = split
            self.data["per_class_f1"] = {
                name: _finite_or_none(value)
                for name, value in zip(module.class_names, per_class.tolist(), strict=True)
            }
            pixels = module.last_confusion[split].sum(1).tolist()  # target pixels per class
            self.data["class_pixels"] = dict(zip(module.class_names, pixels, strict=True))


@contextmanager
def recorded_run(cfg: DictConfig, output_dir: str | Path) -> Iterator[RunRecord]:
    """Time the block and write ``<output_dir>/result.json`` however it ends.

    ``KeyboardInterrupt`` (which Lightning turns into ``SystemExit``), SIGTERM and SIGHUP are
    recorded as ``interrupted`` and always re-raised: the user asked the whole sweep to stop.
    """
    record = RunRecord(cfg)
    if not is_first_process():
        yield record  # one writer per run: DDP ranks other than 0 only train
        return
    path = Path(output_dir) / RESULT_FILE
    record.data["wall_time_parts_s"] = earlier_parts(path)
    start = time.perf_counter()
    try:
        with stopped_by_signals():
            write_json_atomic(path, record.data)
            yield record
    except (KeyboardInterrupt, SystemExit) as stop:
        _finish(record, path, start, "interrupted", _stop_reason(stop))
        raise
    except Pruned as pruned:
        record.data.update(epochs=pruned.epochs, best=pruned.best)
        _finish(record, path, start, "pruned", None)
        raise
    except Exception as error:
        _finish(record, path, start, "failed", _describe(error))
        if not in_multirun():
            raise
        return
    best = record.data["best"]
    if best is None or not math.isfinite(best):
        _finish(record, path, start, "failed", f"objective {cfg.get('optimized_metric')} is NaN")
    else:
        _finish(record, path, start, "ok", None)


def run_objective(cfg: DictConfig, body: Callable[[RunRecord], None], output_dir: str) -> float:
    """Run ``body`` under :func:`recorded_run` and return the objective (NaN if it failed)."""
    with recorded_run(cfg, output_dir) as record:
        body(record)
    best = record.data["best"]  # a failed run's record keeps its best so far; sweeps get NaN
    return math.nan if best is None or record.data["status"] == "failed" else float(best)


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def mark_interrupted(job_dir: Path, reason: str) -> None:
    """Record that a job's process died without writing its end (a kill, a lost node): its
    ``result.json``, if it still says ``running``, becomes ``interrupted`` with ``reason``.
    A job directory that does not exist yet is left alone: its job never started."""
    if not Path(job_dir).is_dir():
        return
    path = Path(job_dir) / RESULT_FILE
    data = read_result(path) if path.is_file() else {"status": "running", "overrides": []}
    if data.get("status") == "running":
        write_json_atomic(path, {**data, "status": "interrupted", "error": reason})


def is_first_process() -> bool:
    """Rank 0 of a DDP run, whether Lightning, torchrun or ``srun`` started the processes."""
    ranks = ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID")
    return all(os.environ.get(name, "0") == "0" for name in ranks)


def earlier_parts(path: Path) -> list[float]:
    """The timed parts of the run this one continues (its ``result.json`` in the same run
    directory, which only a continued run may use), so ``wall_time_s`` counts all of them."""
    try:
        earlier = read_result(path) if path.is_file() else {}
    except (OSError, ValueError):
        return []
    parts = earlier.get("wall_time_parts_s")
    if parts is None and earlier.get("wall_time_s") is not None:
        parts = [earlier["wall_time_s"]]  # written before parts were recorded
    return [float(part) for part in parts or []]


class Stopped(SystemExit):
    """A stop signal arrived outside Lightning's loops (which stop at the next batch)."""


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Stopped` here, so the run ends through ``finally`` and
    ``except`` blocks (its record written) instead of dying where it stands. Only signals with
    the default handler, and only in the main thread. Inside ``trainer.fit``/``test`` Lightning
    puts its own SIGTERM handler before this one and stops at the next batch, writing
    ``last.ckpt`` first: this handler then leaves SIGTERM to it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        if signum == signal.SIGTERM and signal.getsignal(signum) is not stop:
            return  # Lightning's handler ran first and stops the loop itself
        raise Stopped(f"stopped by {signal.Signals(signum).name}")

    previous = {}
    for name in STOP_SIGNALS:
        signum = getattr(signal, name)
        if signal.getsignal(signum) is signal.SIG_DFL:
            previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_reason(stop: BaseException) -> str:
    message = "" if not stop.args or isinstance(stop.args[0], int) else str(stop)
    return f"{type(stop).__name__}: {message}" if message else type(stop).__name__


def _finish(record: RunRecord, path: Path, start: float, status: str, error: str | None) -> None:
    record.data["status"] = status
    record.data["error"] = error
    parts = [*record.data.get("wall_time_parts_s", []), round(time.perf_counter() - start, 3)]
    record.data["wall_time_parts_s"] = parts
    record.data["wall_time_s"] = round(sum(parts), 3)
    if record.data["best"] is not None and not math.isfinite(record.data["best"]):
        record.data["best"] = None
    save_record(path, record.data)


def _describe(error: BaseException) -> str:
    """The exception's type and message, then the innermost frames: enough to find the cause."""
    frames = traceback.format_exception(type(error), error, error.__traceback__)
    return f"{type(error).__name__}: {error}\n" + "".join(frames[-3:])


def task_overrides() -> list[str]:
    """This command's overrides as typed (none outside a Hydra app)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _saved_best(folder: Path) -> tuple[str, float | None]:
    """The newest epoch checkpoint on disk (the best one kept before a save failed) and the
    best score it recorded; ("", None) when there is none."""
    from seg_f1.runs.checkpoints import load_checkpoint

    saved = (
        sorted(folder.glob("epoch*.ckpt"), key=lambda p: p.stat().st_mtime)
        if folder.is_dir()
        else []
    )
    if not saved:
        return "", None
    try:
        states = load_checkpoint(saved[-1], mmap=True).get("callbacks", {})
    except (OSError, ValueError):
        return str(saved[-1]), None
    scores = [s.get("best_model_score") for s in states.values() if isinstance(s, dict)]
    score = next((float(s) for s in scores if s is not None), None)
    return str(saved[-1]), score


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None

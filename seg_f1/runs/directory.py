"""One run per run directory.

A directory that already holds a run (a checkpoint, ``metrics.csv`` or ``result.json``) is only
used again by a run that continues it (``resume=<that dir>`` or ``ckpt_path=last``); anything
else would mix two runs' checkpoints and metrics. What Hydra writes before the job starts
(``.hydra/``, the log) does not count. While a run lives it holds an exclusive lock on
``run.lock``; the operating system releases it when the process ends, however it ends, so the
directory of a killed run is free again at once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from seg_f1.runs.errors import full_error_wanted, user_error_message
from seg_f1.runs.io import raise_if_unwritable, written_files
from seg_f1.runs.results import in_multirun

log = logging.getLogger(__name__)
LOCK_FILE = "run.lock"
RUN_FILES = ("result.json", "metrics.csv")


class RunDirRefused(Exception):
    """The run did not start: its directory is in use, or holds another run."""


class RunDirInUse(RunDirRefused, RuntimeError):
    pass


class RunDirTaken(RunDirRefused, FileExistsError):
    pass


def holds_run(run_dir: Path) -> bool:
    return any((run_dir / name).exists() for name in RUN_FILES) or any(
        written_files(run_dir / "checkpoints", "*.ckpt")
    )


@contextmanager
def claimed(run_dir: str | Path, continues: bool) -> Iterator[None]:
    """Lock ``run_dir`` for this run, refusing it if another run is using it or, unless this run
    ``continues`` it, if it already holds a run.

    Raises:
        RunDirInUse: another live run holds the lock (its pid and host are named).
        RunDirTaken: the directory holds a run and this one does not continue it.
    """
    run_dir = Path(run_dir)
    hint = "wait for it to finish or stop it, or give this run its own hydra.run.dir"
    with held(run_dir, LOCK_FILE, "run", hint):
        if not continues and holds_run(run_dir):
            raise RunDirTaken(
                f"{run_dir} already holds a run; continue it with resume={run_dir} (or "
                "ckpt_path=last), or start this one in a new directory (another hydra.run.dir)"
            )
        yield


@contextmanager
def held(
    folder: str | Path, lock_name: str, holder: str, hint: str, remove: bool = False
) -> Iterator[None]:
    """One writer at a time in ``folder``: an exclusive ``flock`` on ``folder/lock_name``, which
    the operating system releases when the process ends, however it ends. The holder writes who
    it is into the file, so a refused ``holder`` (a run, a predict) is told who has it. With
    ``remove``, the file is deleted (still locked) when the holder is done; a process that had
    opened it before then finds the name gone or taken by a new file, and tries again.

    Raises:
        RunDirInUse: another live process holds the lock (its pid, host and start are named).
    """
    folder = Path(folder)
    path = folder / lock_name
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = open(path, "a+")  # noqa: SIM115 - closed below, after the run
        except OSError as error:
            raise_if_unwritable(path, error)
            raise
        with lock:
            _lock_or_refuse(lock, fcntl.LOCK_EX, f"{folder} is in use by another {holder}", hint)
            if not _still_named(lock, path):
                continue
            _sign(lock)
            try:
                yield
            finally:
                if remove:
                    path.unlink(missing_ok=True)
            return


def refuse_if_live(run_dir: str | Path, hint: str) -> None:
    """Refuse to read a run that is still alive (its checkpoints are still being written);
    the folder is only read, so a read-only archive of a finished run is fine.

    Raises:
        RunDirInUse: the run's process holds its lock (its pid, host and start are named).
    """
    try:
        lock = open(Path(run_dir) / LOCK_FILE)  # noqa: SIM115 - closed below
    except OSError:  # no lock file: no run has ever held it
        return
    with lock:
        _lock_or_refuse(lock, fcntl.LOCK_SH, f"{run_dir} is in use by a run", hint)


def _lock_or_refuse(lock, mode: int, in_use: str, hint: str) -> None:
    """``flock`` without waiting; a lock another process holds is refused naming it."""
    try:
        fcntl.flock(lock, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        raise RunDirInUse(f"{in_use} that is still alive ({_holder(lock)}); {hint}") from None


def _still_named(lock, path: Path) -> bool:
    """Whether the locked file is still the one ``path`` names (a holder with ``remove`` may
    have deleted it between our open and our lock)."""
    try:
        return os.stat(path).st_ino == os.fstat(lock.fileno()).st_ino
    except FileNotFoundError:
        return False


def _sign(lock) -> None:
    """Who holds the lock, for whoever is refused; on a full disk the lock still holds, unsigned."""
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    signature = f"pid {os.getpid()} on host {socket.gethostname()}, started {started}\n"
    try:  # unbuffered: a failed write leaves nothing for close() to fail on again
        os.ftruncate(lock.fileno(), 0)
        os.pwrite(lock.fileno(), signature.encode(), 0)
    except OSError as error:
        log.warning("cannot write who holds %s (%s); it is held all the same", lock.name, error)


@contextmanager
def announced(command: str, run_dir: str | Path) -> Iterator[None]:
    """The run directory logged as a command starts and again as it ends or fails: an installed
    user's runs land under ``~/.local/share/seg_f1``, far from the folder they typed it in.

    An error the user can fix from its message (``seg_f1.runs.errors``) ends a single command with
    that one line instead of a traceback, and a run directory this command made and left holding
    nothing but Hydra's files is removed. A multirun job keeps its traceback and its directory:
    the sweep reads the job's record there.
    """
    fresh = made_by_hydra_only(Path(run_dir))
    log.info("%s: run directory %s", command, run_dir)
    try:
        yield
    except Exception as error:
        message = None if full_error_wanted() or in_multirun() else user_error_message(error)
        if message is None:
            log.error("%s failed; its log and whatever it wrote are in %s", command, run_dir)
            raise
        if fresh and unused(Path(run_dir)):
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            log.error("%s failed; its log is in %s", command, run_dir)
        raise SystemExit(f"{command}: {message}") from None
    except (KeyboardInterrupt, SystemExit):
        log.warning("%s stopped; its log and whatever it wrote are in %s", command, run_dir)
        raise
    log.info("%s done; its log and results are in %s", command, run_dir)


def made_by_hydra_only(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds only what Hydra wrote as this command started: its ``.hydra/``
    and an empty log (a log with lines belongs to an earlier command in the same folder)."""
    try:
        entries = list(run_dir.iterdir())
    except OSError:
        return False
    return all(
        (p.name == ".hydra" and p.is_dir()) or (p.suffix == ".log" and p.stat().st_size == 0)
        for p in entries
    )


def unused(run_dir: Path) -> bool:
    """Whether a failed command left only its bookkeeping: no checkpoint, no metrics, no
    output of its own besides the config, its log, its lock and a record of the failure."""
    bookkeeping = {".hydra", LOCK_FILE, "result.json", "config_tree.log"}
    return all(p.name in bookkeeping or p.suffix == ".log" for p in run_dir.iterdir())


def hydra_run_dir() -> Path:
    """This job's directory, as Hydra made it (``hydra.run.dir`` or the multirun job's)."""
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def _holder(lock, wait_s: float = 1.0) -> str:
    """Who holds the lock, as it wrote itself into the file (``pid 123 on host node7, started
    ...``); a run that has just taken the lock gets ``wait_s`` to write it."""
    deadline = time.monotonic() + wait_s
    while True:
        lock.seek(0)
        holder = lock.read().strip()
        if holder or time.monotonic() > deadline:
            return holder or f"its pid and host are not in {lock.name} yet"
        time.sleep(0.05)

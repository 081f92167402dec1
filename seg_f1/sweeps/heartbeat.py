"""Which trials still have a live worker, and what happens to those that do not.

While its job runs, a trial's worker records a heartbeat every ``interval`` seconds. A RUNNING
trial silent for ``grace_period`` seconds lost its worker (SIGKILL, a preempted node): it is
failed, its ``result.json`` says ``interrupted``, and Optuna's retry callback queues a copy with
the same parameters. Live trials of other workers are never touched.

SQL storages keep heartbeats in their own table (Optuna's ``record_heartbeat`` and
``fail_stale_trials``, judged by the database server's clock). Optuna's JournalStorage has no
heartbeat support, so there the heartbeat is a trial system attribute holding the worker's
clock, and staleness is judged by the clock of the worker that checks: the nodes' clocks must
agree to well within ``grace_period``.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from seg_f1.runs.results import mark_interrupted
from seg_f1.sweeps.study import trial_id

log = logging.getLogger(__name__)

HEARTBEAT_ATTR = "seg_f1:heartbeat"  # journal storages: the last beat, seconds since the epoch
JOB_DIR_ATTR = "job_dir"  # where the trial's job writes, so any worker can mark it interrupted
WORKER_ATTR = "worker"  # host:pid of the worker running the trial
SURPLUS_ATTR = "surplus"  # asked by a worker that lost the race for the last slot; never run
REFUSED_ATTR = "run_dir_refused"  # its job refused its directory, so it never ran


class RetryInterrupted:
    """Fail-and-requeue for a trial whose worker died: Optuna's retry callback, plus a
    ``result.json`` that says ``interrupted`` (the dead job could not write it)."""

    def __init__(self, max_retry: int | None) -> None:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning: the callback is years old
            self.retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: Any, trial: Any) -> None:
        self.retry(study, trial)
        job_dir = trial.user_attrs.get(JOB_DIR_ATTR)
        log.warning("trial %d lost its worker: failed and requeued", trial.number)
        if not job_dir:
            return
        try:  # best effort: a worker that crashed here would leave other stale trials queued
            mark_interrupted(
                Path(job_dir),
                f"trial {trial.number}: its worker stopped sending heartbeats (killed or "
                "preempted); the trial was failed and requeued with the same parameters",
            )
        except (OSError, ValueError) as error:
            log.warning("trial %d: could not mark %s interrupted: %s", trial.number, job_dir, error)


def uses_rdb_heartbeat(storage: Any) -> bool:
    from optuna.storages import RDBStorage

    return isinstance(storage, RDBStorage)


def beat(storage: Any, trial_id: int) -> None:
    """One heartbeat for the trial; the sweeper sends the first right after ``ask``."""
    if uses_rdb_heartbeat(storage):
        storage.record_heartbeat(trial_id)
    else:
        storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())


class TrialHeartbeat:
    """``with TrialHeartbeat(...):`` beats for one trial in a daemon thread while the block runs."""

    def __init__(self, storage: Any, study_name: str, number: int, interval: int) -> None:
        self.storage = storage
        self.trial_id = trial_id(storage, study_name, number)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{number}", daemon=True)

    def __enter__(self) -> TrialHeartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: tuple[type | None, BaseException | None, TracebackType | None]):
        self._stop.set()
        self._thread.join()

    def beat(self) -> None:
        beat(self.storage, self.trial_id)

    def _run(self) -> None:
        from optuna.exceptions import UpdateFinishedTrialError

        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except UpdateFinishedTrialError:
                log.error("trial was failed by another worker while it ran (clock skew?)")
                return
            except Exception as error:  # a storage hiccup: the next beat may get through
                log.warning("heartbeat not recorded: %s", error)


def fail_stale_trials(study: Any, storage: Any, grace_period: int, on_stale: Any) -> None:
    """Fail (and requeue, through ``on_stale``) every RUNNING trial with a stale heartbeat.

    A trial's clock starts at ``datetime_start``: a requeued copy carries the dead trial's last
    beat in its system attributes, and a worker killed between ``ask`` and its first beat
    leaves a trial with no heartbeat at all (Optuna's own SQL check skips those forever)."""
    import optuna
    from optuna.trial import TrialState

    if uses_rdb_heartbeat(storage):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning
            optuna.storages.fail_stale_trials(study)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if uses_rdb_heartbeat(storage):  # the rest were judged by their heartbeat row above
        silent = never_beaten(storage, study.study_name, running)
        running = [t for t in running if t.number in silent]
    now = time.time()
    for trial in running:
        last = max(trial.system_attrs.get(HEARTBEAT_ATTR, 0.0), trial.datetime_start.timestamp())
        if now - last > grace_period:
            _fail(study, storage, trial.number, on_stale)


def never_beaten(storage: Any, study_name: str, trials: list[Any]) -> set[int]:
    """Numbers of the SQL-stored ``trials`` that have no row in Optuna's heartbeat table."""
    import sqlalchemy

    ids = {trial_id(storage, study_name, t.number): t.number for t in trials}
    if not ids:
        return set()
    query = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids")
    query = query.bindparams(sqlalchemy.bindparam("ids", expanding=True))
    with storage.engine.connect() as connection:
        beaten = {row[0] for row in connection.execute(query, {"ids": list(ids)})}
    return {number for tid, number in ids.items() if tid not in beaten}


def _fail(study: Any, storage: Any, number: int, on_stale: Any) -> None:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    tid = trial_id(storage, study.study_name, number)
    try:
        storage.set_trial_state_values(tid, TrialState.FAIL)
    except UpdateFinishedTrialError:
        return  # another worker failed it first, and requeued it
    on_stale(study, storage.get_trial(tid))

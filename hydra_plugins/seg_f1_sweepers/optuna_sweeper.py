"""seg_f1's Optuna sweeper: a worker that asks the study for a trial, runs its job, tells the
result, until the study has ``n_trials`` finished trials.

Run the same command in N processes (or N SLURM jobs) and N workers share the study, each
pulling its next trial as soon as its last one ends. ``n_trials`` counts the whole study, so
running the command again resumes it. A trial's job directory is named by its trial number.
Workers that die are found by heartbeat (:mod:`seg_f1.sweeps.heartbeat`) and their trials requeued.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from seg_f1 import counted
from seg_f1.runs.directory import RunDirRefused
from seg_f1.runs.io import write_atomically
from seg_f1.runs.record_files import read_result, save_record
from seg_f1.runs.results import RESULT_FILE, Pruned
from seg_f1.runs.services import mask_url
from seg_f1.sweeps.heartbeat import (
    JOB_DIR_ATTR,
    REFUSED_ATTR,
    SURPLUS_ATTR,
    WORKER_ATTR,
    RetryInterrupted,
    TrialHeartbeat,
    beat,
    fail_stale_trials,
)
from seg_f1.sweeps.study import (
    StudyWriteFailed,
    absolute_url,
    check_objective,
    check_storage,
    open_storage,
    retried,
    storage_errors,
    trial_id,
    write_failure,
)
from seg_f1.sweeps.workers import check_one_device, slot_counts

log = logging.getLogger(__name__)


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: Any,
        pruner: Any,
        direction: str,
        study_name: str,
        storage: str,
        n_trials: int,
        params: dict[str, str],
        heartbeat_interval: int,
        grace_period: int,
        max_retry: int | None,
        timeout_s: float = 10.0,
    ) -> None:
        if direction not in ("maximize", "minimize"):
            raise ValueError(
                f"hydra.sweeper.direction={direction!r}: expected maximize or minimize"
            )
        if not 0 < heartbeat_interval < grace_period:
            raise ValueError(
                f"hydra.sweeper.heartbeat_interval={heartbeat_interval} and grace_period="
                f"{grace_period}: expected 0 < heartbeat_interval < grace_period (seconds)"
            )
        self.sampler, self.pruner, self.direction = sampler, pruner, direction
        self.study_name, self.storage_url, self.n_trials = study_name, storage, n_trials
        self.params = dict(params or {})
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
        self.on_stale = RetryInterrupted(max_retry)
        self.timeout_s = timeout_s
        self.metric: str | None = None  # the run's optimized_metric, known at setup

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False)["subdir"]
        if subdir != "${hydra.job.num}":
            raise ValueError(
                f"hydra.sweep.subdir={subdir!r}: the Optuna sweeper names job directories by "
                "trial number; keep hydra.sweep.subdir: ${hydra.job.num}"
            )
        self.hydra_context, self.config = hydra_context, config
        self.metric = OmegaConf.select(config, "optimized_metric", default=None)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        from optuna.exceptions import ExperimentalWarning

        from hydra_plugins.seg_f1_sweepers._search_space import split_overrides

        warnings.filterwarnings("ignore", category=ExperimentalWarning)  # heartbeats, retries
        # Optuna's heartbeats are written by seg_f1.sweeps.heartbeat around each ask/tell trial
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        fixed, space = split_overrides(self.params, arguments)
        check_one_device(self.config.trainer)
        self.sweep_dir = Path(self.config.hydra.sweep.dir)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        multirun = self.sweep_dir / "multirun.yaml"
        write_atomically(multirun, lambda tmp: OmegaConf.save(self.config, tmp))
        storage, study = self.open_study()
        self.check_job_dirs(study)
        if absolute_url(self.storage_url) != self.storage_url:  # the job's cwd may differ
            fixed = [*fixed, f"hydra.sweeper.storage='{absolute_url(self.storage_url)}'"]
        try:
            while (trial := self._next_trial(study, storage, space)) is not None:
                self._run(study, storage, trial, fixed)
        except storage_errors() as error:
            raise write_failure(self.storage_url, error) from None
        log.info("study %s has its %d finished trials", self.study_name, self.n_trials)

    def open_study(self) -> tuple[Any, Any]:
        """The storage and the study, created by whichever worker comes first; a storage that
        is down or malformed is named at once (``check_storage``), not retried."""
        check_storage(self.storage_url, self.timeout_s)
        storage = retried(
            lambda: open_storage(
                self.storage_url,
                heartbeat_interval=self.heartbeat_interval,
                grace_period=self.grace_period,
                on_stale=self.on_stale,
                timeout_s=self.timeout_s,
            ),
            f"opening {self.storage_url}",
        )
        return storage, retried(lambda: self._join_study(storage), f"joining {self.study_name}")

    def check_job_dirs(self, study: Any) -> None:
        """Refuse a sweep directory holding jobs of trials the study lacks (it was deleted or
        recreated): their trial numbers would come again, and every job would refuse its
        directory. The directories are listed first: a job's trial exists before its directory."""
        jobs = {int(p.name) for p in self.sweep_dir.iterdir() if p.name.isdigit() and p.is_dir()}
        foreign = sorted(jobs - {t.number for t in study.get_trials(deepcopy=False)})
        if foreign:
            raise ValueError(
                f"{self.sweep_dir} holds job directories {foreign[:10]} of trials that study "
                f"{self.study_name} in {self.storage_url} does not have (was it deleted or "
                "recreated?): move them away, or give this study its own hydra.sweep.dir"
            )

    def _join_study(self, storage: Any) -> Any:
        """Create the study, or join it: a worker that joins reseeds its sampler, since a seeded
        sampler would otherwise propose the creator's points again. Either way the study is
        checked for this sweep's objective and named after it (``check_objective``)."""
        import optuna

        kwargs = dict(study_name=self.study_name, storage=storage, pruner=self.pruner)
        try:
            study = optuna.create_study(**kwargs, sampler=self.sampler, direction=self.direction)
            log.info("created study %s in %s", self.study_name, self.storage_url)
        except optuna.exceptions.DuplicatedStudyError:
            self.sampler.reseed_rng()
            study = optuna.load_study(**kwargs, sampler=self.sampler)
        where = f"study {self.study_name} in {mask_url(self.storage_url)}"
        check_objective(study, self.direction, self.metric, where)
        return study

    def _next_trial(self, study: Any, storage: Any, space: dict) -> Any:
        """A trial to run (a requeued one first), or None once the study has n_trials finished.
        While the other workers' running trials would complete it, wait: one may die."""

        while True:
            fail_stale_trials(study, storage, self.grace_period, self.on_stale)
            trials = study.get_trials(deepcopy=False)
            counts = slot_counts(trials)
            if counts["finished"] >= self.n_trials:
                return None
            if counts["waiting"] or counts["finished"] + counts["running"] < self.n_trials:
                trial = study.ask(space)  # a requeued trial keeps its values
                beat(storage, trial_id(storage, self.study_name, trial.number))
                if not self._surplus(study, trial):
                    return trial
                continue
            log.info(
                "%d trials finished, %d running in other workers: waiting %d s",
                counts["finished"], counts["running"], self.heartbeat_interval,
            )  # fmt: skip
            time.sleep(self.heartbeat_interval)

    def _surplus(self, study: Any, trial: Any) -> bool:
        """Two workers that saw one free slot both asked: the later trial number gives way."""
        from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        mine = next(t for t in trials if t.number == trial.number)
        if Retry.retried_trial_number(mine) is not None:
            return False  # a requeued trial takes the slot of the one it replaces
        ahead = slot_counts([t for t in trials if t.number < trial.number])
        if ahead["finished"] + ahead["running"] + ahead["waiting"] < self.n_trials:
            return False
        trial.set_user_attr(SURPLUS_ATTR, True)
        study.tell(trial, state=TrialState.FAIL)
        return True

    def _run(self, study: Any, storage: Any, trial: Any, fixed: list[str]) -> None:
        from hydra_plugins.seg_f1_sweepers._search_space import trial_overrides

        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr(JOB_DIR_ATTR, str((self.sweep_dir / str(trial.number)).resolve()))
        overrides = trial_overrides(fixed, trial.params)
        log.info("trial %d: %s", trial.number, " ".join(overrides))
        try:
            self.validate_batch_is_legal([overrides])
            with TrialHeartbeat(storage, self.study_name, trial.number, self.heartbeat_interval):
                [result] = self.launcher.launch([overrides], initial_job_idx=trial.number)
        except (KeyboardInterrupt, SystemExit):
            self.requeue(study, storage, trial)
            raise
        except BaseException:
            self._tell(study, trial, "FAIL")
            raise
        try:
            self._tell_result(study, trial, result)
        except storage_errors() as error:
            self._record_unwritten(study, trial, write_failure(self.storage_url, error))
            raise

    def _record_unwritten(self, study: Any, trial: Any, failure: StudyWriteFailed) -> None:
        """The job ran but the study could not take its result: the trial is failed in the
        study if the storage still takes that, and the job's result.json says what happened."""
        state = "RUNNING (its heartbeats stop, so a worker fails it after grace_period)"
        try:
            if self._tell(study, trial, "FAIL"):
                state = "FAIL"
        except storage_errors():
            pass
        path = self.sweep_dir / str(trial.number) / RESULT_FILE
        if path.is_file():
            record = read_result(path)
            record["study"] = {"state": state, "error": str(failure)}
            save_record(path, record)

    def requeue(self, study: Any, storage: Any, trial: Any) -> None:
        """Fail the trial and queue a copy, unless it was finished already (by another worker
        that found it stale, which queued the copy)."""
        if self._tell(study, trial, "FAIL"):
            self.on_stale(
                study, storage.get_trial(trial_id(storage, self.study_name, trial.number))
            )

    def _tell_result(self, study: Any, trial: Any, result: JobReturn) -> None:
        # a pruned job ends in Pruned: told as such, without Hydra's "Error executing job" line
        if result.status == JobStatus.FAILED and isinstance(result._return_value, Pruned):
            pruned = result._return_value
            log.info("trial %d: pruned after %s", trial.number, counted(pruned.epochs, "epoch"))
            return self._tell(study, trial, "PRUNED")
        try:
            value = result.return_value
        except RunDirRefused as refused:  # the job never ran: the trial holds no slot
            trial.set_user_attr(REFUSED_ATTR, str(refused))
            self._tell(study, trial, "FAIL")
            raise RuntimeError(f"trial {trial.number}: {refused}") from refused
        except Exception as error:
            log.error("trial %d failed: %s", trial.number, error)
            return self._tell(study, trial, "FAIL")
        if value is None or not math.isfinite(float(value)):
            return self._tell(study, trial, "FAIL")
        self._tell(study, trial, "COMPLETE", float(value))

    def _tell(self, study: Any, trial: Any, state: str, value: float | None = None) -> bool:
        """Whether this call finished the trial: False when it was finished already."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        mine = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
        try:
            if not mine.state.is_finished():
                study.tell(trial, value, state=TrialState[state])
                return True
        except UpdateFinishedTrialError:
            pass
        log.error(
            "trial %d was failed by another worker while it ran: its heartbeats stopped "
            "for longer than grace_period=%d s", trial.number, self.grace_period,
        )  # fmt: skip
        return False

"""The sweeper's stale-trial rules and failure paths on real tiny storages, without training."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import optuna  # the sweep extra: make test installs it, so missing is a failure, not a skip
import pytest
from conftest import CONF
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import JobReturn, JobStatus

from seg_f1.runs.directory import RunDirTaken
from seg_f1.runs.results import mark_interrupted
from seg_f1.sweeps.heartbeat import (
    HEARTBEAT_ATTR,
    JOB_DIR_ATTR,
    RetryInterrupted,
    fail_stale_trials,
)
from seg_f1.sweeps.study import open_storage, study_of

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
from optuna.trial import TrialState  # noqa: E402

from hydra_plugins.seg_f1_sweepers.optuna_sweeper import OptunaSweeper  # noqa: E402
from seg_f1.sweeps.workers import check_one_device, slot_counts  # noqa: E402

STUDY, GRACE = "s", 1


def sweeper(url: str, sweep_dir: Path | None = None) -> OptunaSweeper:
    made = OptunaSweeper(
        sampler=optuna.samplers.RandomSampler(seed=0), pruner=optuna.pruners.NopPruner(),
        direction="maximize", study_name=STUDY, storage=url, n_trials=2, params={},
        heartbeat_interval=1, grace_period=3, max_retry=3,
    )  # fmt: skip
    made.sweep_dir = sweep_dir
    return made


def handle(url: str):
    """One worker's own storage and study objects."""
    storage = open_storage(url, heartbeat_interval=1, grace_period=3)
    return storage, optuna.load_study(study_name=STUDY, storage=storage)


def ask_and_die(study, storage, job_dir: Path):
    """A trial that beat once, then its worker died: stale once GRACE has passed."""
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.set_user_attr(JOB_DIR_ATTR, str(job_dir))
    storage.set_trial_system_attr(trial._trial_id, HEARTBEAT_ATTR, time.time())
    return trial


def test_a_requeued_copy_is_not_stale_for_its_dead_parents_heartbeat(tmp_path):
    """The copy inherits the dead trial's old beat; a live worker that just asked for it must
    keep it, and no job directory may appear for it."""
    url = f"journal:///{tmp_path}/j.log"
    optuna.create_study(study_name=STUDY, storage=open_storage(url))
    (storage_a, study_a), (_, study_b) = handle(url), handle(url)
    (tmp_path / "0").mkdir()
    ask_and_die(study_a, storage_a, tmp_path / "0")
    time.sleep(GRACE + 0.2)
    fail_stale_trials(study_a, storage_a, GRACE, RetryInterrupted(3))
    copy = study_b.ask()  # a live worker takes the copy, before its first beat
    assert copy.number == 1 and HEARTBEAT_ATTR in study_b.trials[1].system_attrs
    copy.set_user_attr(JOB_DIR_ATTR, str(tmp_path / "1"))
    fail_stale_trials(study_a, storage_a, GRACE, RetryInterrupted(3))
    assert [t.state for t in study_a.get_trials()] == [TrialState.FAIL, TrialState.RUNNING]
    assert not (tmp_path / "1").exists()


def test_mark_interrupted_leaves_a_job_directory_that_does_not_exist_alone(tmp_path):
    mark_interrupted(tmp_path / "7", "worker gone")
    assert not (tmp_path / "7").exists()


def test_a_bad_result_json_does_not_stop_other_stale_trials_being_requeued(tmp_path, caplog):
    url = f"journal:///{tmp_path}/j.log"
    study = optuna.create_study(study_name=STUDY, storage=open_storage(url))
    storage = study._storage
    for number in (0, 1):
        (tmp_path / str(number)).mkdir()
        ask_and_die(study, storage, tmp_path / str(number))
    time.sleep(GRACE + 0.2)
    (tmp_path / "0" / "result.json").write_text("{not json")
    fail_stale_trials(study, storage, GRACE, RetryInterrupted(3))
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL] * 2 + [TrialState.WAITING] * 2
    assert json.loads((tmp_path / "1" / "result.json").read_text())["status"] == "interrupted"
    assert f"could not mark {tmp_path / '0'} interrupted" in caplog.text


def test_a_sql_trial_whose_worker_died_before_its_first_heartbeat_is_requeued(tmp_path):
    url = f"sqlite:///{tmp_path}/o.db"
    storage = open_storage(url, heartbeat_interval=1, grace_period=GRACE)
    study = optuna.create_study(study_name=STUDY, storage=storage)
    study.ask()  # killed right after ask: no heartbeat row
    time.sleep(GRACE + 0.2)
    live = study.ask()
    storage.record_heartbeat(live._trial_id)
    fail_stale_trials(study, storage, GRACE, RetryInterrupted(3))
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]


def test_a_trial_failed_twice_is_requeued_once(tmp_path):
    url = f"journal:///{tmp_path}/j.log"
    worker = sweeper(url)
    storage, study = worker.open_study()
    trial = study.ask()
    worker.requeue(study, storage, trial)
    worker.requeue(study, storage, trial)  # e.g. Ctrl-C after another worker failed it
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL, TrialState.WAITING]


def test_a_sweep_dir_with_jobs_the_study_lacks_is_refused(tmp_path):
    (tmp_path / "3").mkdir()
    worker = sweeper(f"journal:///{tmp_path}/j.log", sweep_dir=tmp_path)
    _, study = worker.open_study()
    with pytest.raises(ValueError, match=rf"{tmp_path} holds job directories \[3\].* study s"):
        worker.check_job_dirs(study)


def test_a_job_that_refused_its_directory_holds_no_slot(tmp_path):
    worker = sweeper(f"journal:///{tmp_path}/j.log")
    _, study = worker.open_study()
    trial = study.ask()
    refused = JobReturn(status=JobStatus.FAILED, _return_value=RunDirTaken(f"{tmp_path}/0"))
    with pytest.raises(RuntimeError, match="trial 0: .*/0"):
        worker._tell_result(study, trial, refused)
    assert slot_counts(study.get_trials()) == {"finished": 0, "running": 0, "waiting": 0}


def _join(url: str, barrier) -> None:
    barrier.wait()
    sweeper(url).open_study()


def test_three_workers_started_together_on_an_empty_sqlite_database(tmp_path):
    url, context = f"sqlite:///{tmp_path}/o.db", multiprocessing.get_context("fork")
    barrier = context.Barrier(3)
    workers = [context.Process(target=_join, args=(url, barrier)) for _ in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0, 0]
    assert handle(url)[1].study_name == STUDY


def compose_sweep(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["hparams_search=optuna", *overrides])
    GlobalHydra.instance().clear()
    return cfg


def test_ddp_in_an_optuna_sweep_is_refused_naming_the_key():
    check_one_device(compose_sweep().trainer)
    with pytest.raises(ValueError, match=r"trainer\.devices=2: .* one device"):
        check_one_device(compose_sweep("trainer=ddp_cpu").trainer)
    with pytest.raises(ValueError, match=r"trainer\.num_nodes=2"):
        check_one_device(compose_sweep("trainer.num_nodes=2").trainer)


def test_trials_plot_takes_the_metric_the_sweep_monitored(tmp_path):
    from omegaconf import OmegaConf

    url = f"journal:///{tmp_path}/j.log"
    optuna.create_study(study_name=STUDY, storage=open_storage(url))
    config = OmegaConf.create({"optimized_metric": "val/miou"})
    config.callbacks = {"optuna_pruning": {"monitor": "${optimized_metric}"}}
    config.hydra = {
        "sweeper": {
            "_target_": "hydra_plugins.seg_f1_sweepers.optuna_sweeper.OptunaSweeper",
            "storage": url,
            "study_name": STUDY,
        }
    }
    OmegaConf.save(config, tmp_path / "multirun.yaml")
    study, metric, why_not = study_of(tmp_path)
    assert (study.study_name, metric, why_not) == (STUDY, "val/miou", None)

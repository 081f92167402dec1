"""Concurrent Optuna workers on one study: a real PostgreSQL server, a JournalStorage file and
SQLite; a worker SIGKILLed mid-trial is found by heartbeat and its trial requeued; a median
pruner stops a trial whose val/f1 is poor on purpose."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna  # the sweep extra: make test installs it, so missing is a failure, not a skip
import pytest
from conftest import ROOT, TINY, run_env
from faults import postgres_server

from seg_f1.runs.results import read_result
from seg_f1.sweeps.report import report

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from seg_f1.sweeps.heartbeat import SURPLUS_ATTR  # noqa: E402
from seg_f1.sweeps.workers import holds_slot  # noqa: E402

STUDY = "seg_f1_loss"
# 1 s heartbeats, stale after 3 s; no plots or diagnosis: only the sweep machinery is under test
FAST = [
    "hydra.sweeper.heartbeat_interval=1",
    "hydra.sweeper.grace_period=3",
    "~callbacks.run_reports",
    "~callbacks.curve_diagnosis",
    "test=false",
]


@pytest.fixture(scope="module")
def postgres_url() -> str:
    with postgres_server() as (url, _):
        yield url


def worker(sweep_dir: Path, storage: str, data_dir: Path, *overrides: str) -> subprocess.Popen:
    """One `train.py -m hparams_search=optuna` worker, its output in a log file."""
    command = [
        sys.executable, "train.py", "-m", "hparams_search=optuna", *TINY, *FAST,
        f"paths.data_dir={data_dir}", f"hydra.sweep.dir={sweep_dir}",
        f"hydra.sweeper.storage='{storage}'", *overrides,
    ]  # fmt: skip
    sweep_dir.mkdir(parents=True, exist_ok=True)
    log = open(sweep_dir / f"worker-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
    return subprocess.Popen(command, cwd=ROOT, env=run_env(), stdout=log, stderr=log)


def finish(*workers: subprocess.Popen, sweep_dir: Path) -> None:
    for process in workers:
        code = process.wait(timeout=600)
        logs = "\n".join(p.read_text()[-3000:] for p in sweep_dir.glob("worker-*.log"))
        assert code == 0, logs


def load(storage: str) -> list:
    from seg_f1.sweeps.study import open_storage

    return optuna.load_study(study_name=STUDY, storage=open_storage(storage)).get_trials()


def job_dirs(sweep_dir: Path) -> set[int]:
    return {int(p.name) for p in sweep_dir.iterdir() if p.name.isdigit()}


def running_trial_of(process: subprocess.Popen, storage: str, timeout: float = 300):
    """Wait until ``process`` runs a trial whose job has started (result.json says running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the worker ended before it ran a trial"
        for trial in _trials_so_far(storage):
            result = Path(trial.user_attrs.get("job_dir", "/nonexistent")) / "result.json"
            if (
                trial.user_attrs.get("worker", "").endswith(f":{process.pid}")
                and trial.state == TrialState.RUNNING
                and result.is_file()
                and read_result(result)["status"] == "running"
            ):
                return trial
        time.sleep(0.2)
    pytest.fail("no trial of the worker reached its job")


def _trials_so_far(storage: str) -> list:
    try:
        return load(storage)
    except Exception:  # the study, or its tables, are not created yet
        return []


@pytest.mark.slow
def test_three_postgres_workers_share_a_study_and_requeue_a_killed_ones_trial(
    tmp_path, data_dir, postgres_url
):
    """Three workers on one PostgreSQL study; one is SIGKILLed mid-trial, a fourth starts."""
    sweep_dir, storage, n_trials = tmp_path / "study", postgres_url, 5
    trials, killed = kill_one_worker(sweep_dir, storage, data_dir, n_trials, alive=2)
    assert len({t.user_attrs["worker"] for t in trials}) >= 3, "the workers did not share"
    for trial in trials:
        if trial.state == TrialState.COMPLETE:
            result = read_result(sweep_dir / str(trial.number) / "result.json")
            assert result["status"] == "ok" and result["best"] == pytest.approx(trial.value)
            assert f"optimizer.lr={trial.params['optimizer.lr']}" in result["overrides"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_a_killed_worker_is_found_by_heartbeat_and_its_trial_rerun(kind, tmp_path, data_dir):
    storage = {
        "journal": f"journal:///{tmp_path}/optuna.log",
        "sqlite": f"sqlite:///{tmp_path}/o.db",
    }
    kill_one_worker(tmp_path / "study", storage[kind], data_dir, n_trials=2, alive=0)


def kill_one_worker(sweep_dir: Path, storage: str, data_dir: Path, n_trials: int, alive: int):
    """Start a worker, SIGKILL it once its trial's job runs, with ``alive`` workers beside it,
    then start one more; check that only the killed trial failed and that its copy finished."""
    budget = f"hydra.sweeper.n_trials={n_trials}"
    victim = worker(sweep_dir, storage, data_dir, budget, "trainer.max_epochs=3")  # creates it
    others = [worker(sweep_dir, storage, data_dir, budget) for _ in range(alive)]
    killed = running_trial_of(victim, storage)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    finish(*others, worker(sweep_dir, storage, data_dir, budget), sweep_dir=sweep_dir)

    everything = load(storage)
    # two workers that saw the last free slot both asked: the later one gave way unrun (FAIL,
    # marked surplus, no job directory); it is the one other FAIL a study may hold
    trials = [t for t in everything if holds_slot(t)]
    for gave_way in (t for t in everything if not holds_slot(t)):
        assert gave_way.state == TrialState.FAIL and gave_way.user_attrs[SURPLUS_ATTR]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [killed.number], "a live trial was failed"
    retries = [t for t in trials if Retry.retried_trial_number(t) == killed.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == killed.params
    assert [t.state for t in trials].count(TrialState.COMPLETE) == n_trials
    assert len(trials) == n_trials + 1, "a trial more than the killed one's copy"
    result = read_result(sweep_dir / str(killed.number) / "result.json")
    assert result["status"] == "interrupted" and "heartbeat" in result["error"]
    assert job_dirs(sweep_dir) == {t.number for t in trials}
    return trials, killed


@pytest.mark.slow
def test_median_pruner_stops_a_trial_with_a_poor_learning_rate(tmp_path, data_dir):
    sweep_dir, storage = tmp_path / "study", f"sqlite:///{tmp_path}/optuna.db"
    common = [
        "hydra/sweeper/pruner=median", "hydra.sweeper.pruner.n_startup_trials=2",
        "trainer.max_epochs=2",
        "loss=ce_dice", "loss.dice_weight=0.5", "optimizer.weight_decay=1e-4",  # not searched
    ]  # fmt: skip
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize")
    for lr in (1e-3, 1e-3, 10.0):  # two trials at a sane learning rate, then one at lr=10
        study.enqueue_trial({"optimizer.lr": lr})
    params = "hydra.sweeper.params={optimizer.lr:'tag(log, interval(1e-4, 10.0))'}"
    finish(worker(sweep_dir, storage, data_dir, *common, params, "hydra.sweeper.n_trials=3"),
           sweep_dir=sweep_dir)  # fmt: skip
    trials = load(storage)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.PRUNED]
    assert [t.params for t in trials] == [{"optimizer.lr": 1e-3}] * 2 + [{"optimizer.lr": 10.0}]
    assert list(trials[2].intermediate_values) == [1]  # step = epochs done
    result = read_result(sweep_dir / "2" / "result.json")
    assert result["status"] == "pruned" and result["epochs"] == 1
    assert result["best"] == pytest.approx(trials[2].intermediate_values[1])
    assert read_result(sweep_dir / "0" / "result.json")["epochs"] == 2
    markdown = report(sweep_dir)
    assert "- job 2: pruned after 1 epoch," in markdown and "## Failed trials" not in markdown
    assert (sweep_dir / "trials.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (log,) = sweep_dir.glob("worker-*.log")
    output = log.read_text()
    assert "trial 2: pruned after 1 epoch\n" in output
    assert "Error executing job" not in output, "a pruned trial is not an error"
    assert "Heartbeat of storage is supposed" not in output

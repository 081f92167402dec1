"""Sweeps end to end: result.json per job, failures that do not stop a sweep, Optuna resume."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONF, ROOT, TINY, run_env
from omegaconf import OmegaConf

from seg_f1.runs.results import RunRecord, read_result, run_objective
from seg_f1.training import train


def test_result_json_of_a_run_matches_its_metrics(compose_cfg, tmp_path):
    best = train(compose_cfg("trainer.max_epochs=2"))
    result = read_result(tmp_path / "result.json")
    assert result["status"] == "ok" and result["error"] is None
    assert result["best"] == pytest.approx(best)
    assert result["epochs"] == 2
    assert "data.image_size=32" in result["overrides"]
    assert result["per_class_split"] == "test"
    assert len(result["per_class_f1"]) == 19 and "l_eye" in result["per_class_f1"]
    assert 0.0 <= result["test_f1"] <= 1.0
    assert result["wall_time_s"] > 0
    assert not list(tmp_path.glob(".result.json.*")), "temporary file left behind"


def test_failed_single_run_is_recorded_and_still_raises(compose_cfg, tmp_path):
    with pytest.raises(ValueError, match="loss.dice_weight"):
        train(compose_cfg("loss.dice_weight=-1"))
    result = read_result(tmp_path / "result.json")
    assert result["status"] == "failed"
    assert result["error"].startswith("ValueError: ") and "loss.dice_weight" in result["error"]


def test_nan_objective_is_a_failed_run(tmp_path):
    cfg = OmegaConf.create({"seed": 1, "optimized_metric": "val/f1"})

    def nan_run(record: RunRecord) -> None:
        record.data["best"] = math.nan

    assert math.isnan(run_objective(cfg, nan_run, str(tmp_path)))
    result = read_result(tmp_path / "result.json")
    assert result["status"] == "failed" and result["best"] is None
    assert result["error"] == "objective val/f1 is NaN"


def run_train(*args: str, data_dir: Path, script: str = "train.py", **env):
    flags = [arg for arg in args if arg.startswith("-")]  # Hydra wants -m before overrides
    overrides = [arg for arg in args if not arg.startswith("-")]
    command = [sys.executable, script, *flags, *TINY, f"paths.data_dir={data_dir}", *overrides]
    return subprocess.run(
        command, cwd=ROOT, env={**run_env(), **env}, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_grid_with_a_failing_job_goes_on_under_joblib(tmp_path, data_dir):
    """The documented grid, cut to two values: the bad one fails, the sweep still succeeds."""
    result = run_train(
        "-m", "hparams_search=dice_weight_grid", "hydra.sweeper.params={loss.dice_weight:'0.5,-1'}",
        "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path}",
        "test=false", data_dir=data_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results = {job: read_result(tmp_path / job / "result.json") for job in ("0", "1")}
    assert results["0"]["status"] == "ok" and "loss.dice_weight=0.5" in results["0"]["overrides"]
    assert 0.0 <= results["0"]["best"] <= 1.0
    assert results["1"]["status"] == "failed" and "loss.dice_weight=-1" in results["1"]["overrides"]
    assert "loss.dice_weight" in results["1"]["error"]


# Ctrl-C in the middle of one trial's fit, as a user would press it: Lightning turns it into
# SystemExit, the worker fails the trial, queues a copy with the same parameters, and stops.
INTERRUPTING_TRAIN = f'''
import os
import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from seg_f1.training import train


class InterruptAt(L.Callback):
    def on_train_start(self, trainer, module):
        if os.environ.get("INTERRUPT_JOB") == str(HydraConfig.get().job.num):
            raise KeyboardInterrupt


@hydra.main(config_path="{CONF}", config_name="config", version_base="1.3")
def main(cfg):
    return train(cfg)


if __name__ == "__main__":
    main()
'''


def printed(run: subprocess.CompletedProcess) -> str:
    """The end of what a sweep printed: Hydra logs to stdout, tracebacks go to stderr."""
    return f"stdout:\n{run.stdout[-2000:]}\nstderr:\n{run.stderr[-2000:]}"


def study_trials(sweep_dir: Path) -> list:
    import optuna

    study = optuna.load_study(study_name="seg_f1_loss", storage=f"sqlite:///{sweep_dir}/optuna.db")
    return study.get_trials()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_interrupted_optuna_study_resumes_to_n_trials(tmp_path, data_dir):
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
    from optuna.trial import TrialState

    script = tmp_path / "interrupting_train.py"
    script.write_text(INTERRUPTING_TRAIN)
    sweep_dir = tmp_path / "study"
    args = (
        "-m", "hparams_search=optuna", "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={sweep_dir}",
        "+callbacks.interrupt._target_=__main__.InterruptAt", "test=false",
    )  # fmt: skip
    first = run_train(*args, data_dir=data_dir, script=str(script), INTERRUPT_JOB="2")
    assert first.returncode != 0, printed(first)
    before = study_trials(sweep_dir)
    states = [TrialState.COMPLETE] * 2 + [TrialState.FAIL, TrialState.WAITING]
    # a failure says what the first run printed: its trials' states alone do not say why
    assert [t.state for t in before] == states, printed(first)
    assert Retry.retried_trial_number(before[3]) == 2 and before[3].params == before[2].params
    assert read_result(sweep_dir / "2" / "result.json")["status"] == "interrupted"
    finished = {job: (sweep_dir / job / "result.json").read_bytes() for job in ("0", "1", "2")}

    second = run_train(*args, data_dir=data_dir, script=str(script))
    assert second.returncode == 0, second.stderr[-3000:]
    after = study_trials(sweep_dir)
    assert [t.state for t in after] == [TrialState.COMPLETE] * 2 + [TrialState.FAIL] + [
        TrialState.COMPLETE
    ], printed(second)
    for old, new in zip(before[:2], after[:2], strict=True):
        assert (old.params, old.values) == (new.params, new.values)
    for job, content in finished.items():
        assert (sweep_dir / job / "result.json").read_bytes() == content, job
    resumed = read_result(sweep_dir / "3" / "result.json")
    assert resumed["status"] == "ok"
    assert resumed["best"] == pytest.approx(after[3].value)
    overrides = json.dumps(resumed["overrides"])
    assert f"optimizer.lr={after[2].params['optimizer.lr']}" in overrides


@pytest.mark.slow
def test_optuna_trials_run_as_submitit_jobs_and_report_every_epoch(tmp_path, data_dir):
    """The worker stays in this process; each trial is a submitit job in its own process, which
    reopens its trial from the storage to report val/f1 per epoch for pruning."""
    from optuna.trial import TrialState

    sweep_dir = tmp_path / "study"
    result = run_train(
        "-m", "hparams_search=optuna", "hydra/launcher=submitit_local",
        "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep_dir}", "trainer.max_epochs=2",
        data_dir=data_dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    trials = study_trials(sweep_dir)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for trial in trials:
        assert sorted(trial.intermediate_values) == [1, 2]  # epochs done
        job = read_result(sweep_dir / str(trial.number) / "result.json")
        assert job["status"] == "ok" and job["best"] == pytest.approx(trial.value)


def compose_with(*overrides: str):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg


@pytest.mark.parametrize(
    "search", sorted(p.stem for p in (CONF / "hparams_search").glob("*.yaml"))
)  # fmt: skip
def test_every_swept_key_exists_for_every_swept_choice(search):
    """A sweep over a key the chosen loss lacks fails only when its job starts ("not in
    struct"); here every value of every group a search chooses must have every swept key."""
    params = compose_with(f"hparams_search={search}").hydra.sweeper.params
    groups = {k: v for k, v in params.items() if (CONF / k).is_dir() or k == "experiment"}
    choices = [
        [f"{group}={value.strip()}" for value in _values(spec)] for group, spec in groups.items()
    ]
    for chosen in choices[0] if choices else [None]:
        cfg = compose_with(f"hparams_search={search}", *([chosen] if chosen else []))
        for key in params:
            if key not in groups:
                assert OmegaConf.select(cfg, key) is not None, (search, chosen, key)


def _values(spec: str) -> list[str]:
    """The values of a basic-sweeper list (``a,b``) or an Optuna ``choice(a, b)``."""
    spec = spec.removeprefix("choice(").removesuffix(")")
    return [value for value in spec.replace("\n", "").split(",") if value.strip()]

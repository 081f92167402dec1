"""What names a sweep's parts, through real tiny sweeps (Hydra's launcher, seg_f1's Optuna sweeper,
a real SQLite study) whose jobs return at once instead of training: the study's objective is
named after optimized_metric, and each job's figures are titled by what its sweep varied."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import optuna  # the sweep extra: make test installs it, so missing is a failure, not a skip
import pytest
from conftest import CONF, ROOT, run_env

from seg_f1.sweeps.study import open_storage

# the project's config and sweeper; the job only says how it would title its figures
TITLE_APP = f'''
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig

from seg_f1.callbacks.reports import run_title


@hydra.main(config_path="{CONF}", config_name="config", version_base="1.3")
def main(cfg):
    print("TITLE:", run_title(Path(HydraConfig.get().runtime.output_dir)))
    return 0.5


if __name__ == "__main__":
    main()
'''


def sweep(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    app = tmp_path / "title_app.py"
    app.write_text(TITLE_APP)
    command = [sys.executable, str(app), "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}",
               *overrides]  # fmt: skip
    return subprocess.run(
        command, cwd=ROOT, env=run_env(), capture_output=True, text=True, timeout=300
    )


def titles(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, done.stderr[-3000:]
    return re.findall(r"^TITLE: (.*)$", done.stdout, flags=re.MULTILINE)


OPTUNA = ["hparams_search=optuna", "hydra.sweeper.n_trials=2"]


def study_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}"  # the optuna search's own place


def study_of(tmp_path: Path):
    return optuna.load_study(study_name="seg_f1_loss", storage=open_storage(study_url(tmp_path)))


@pytest.mark.slow
def test_an_optuna_study_names_its_objective_and_titles_each_trial_by_its_values(tmp_path):
    first, second = titles(sweep(tmp_path, *OPTUNA, "data.image_size=32"))
    study = study_of(tmp_path)
    assert study.metric_names == ["val/f1"]  # optuna-dashboard said "Objective 0" before
    trials = study.trials
    assert first.startswith("job 0 · ") and second.startswith("job 1 · ")
    for title, trial in zip((first, second), trials, strict=True):
        assert f"loss={trial.params['loss']}" in title
        assert f"optimizer.lr={trial.params['optimizer.lr']}" in title
        assert "data.image_size" not in title  # the same in every trial


@pytest.mark.slow
def test_a_study_made_before_names_were_kept_is_named_when_joined(tmp_path):
    storage = open_storage(study_url(tmp_path))
    optuna.create_study(study_name="seg_f1_loss", storage=storage, direction="maximize")
    assert len(titles(sweep(tmp_path, *OPTUNA))) == 2
    assert study_of(tmp_path).metric_names == ["val/f1"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_study_of_another_metric_is_refused_by_name(tmp_path):
    storage = open_storage(study_url(tmp_path))
    made = optuna.create_study(study_name="seg_f1_loss", storage=storage, direction="maximize")
    made.set_metric_names(["val/miou"])
    done = sweep(tmp_path, *OPTUNA)
    assert done.returncode != 0
    assert "optimized_metric=val/f1, but study seg_f1_loss in sqlite:///" in done.stderr
    assert "optimizes val/miou" in done.stderr
    assert not study_of(tmp_path).trials


@pytest.mark.slow
def test_a_grid_jobs_figures_are_titled_by_the_values_its_sweep_varies(tmp_path):
    done = sweep(tmp_path, "loss=ce,ce_dice", "seed=0,1", "data.image_size=32")
    assert titles(done) == [  # data.image_size is the same in every job: no part of a title
        "job 0 · loss=ce seed=0",
        "job 1 · loss=ce seed=1",
        "job 2 · loss=ce_dice seed=0",
        "job 3 · loss=ce_dice seed=1",
    ]


def test_a_single_run_is_titled_by_its_folder(compose_cfg, tmp_path):
    from seg_f1.callbacks.reports import run_title

    compose_cfg("loss=ce")
    assert run_title(tmp_path) == f"run {tmp_path.name}"


def test_a_long_job_title_wraps_inside_every_run_figure():
    """An Optuna trial's overrides run past a 7-inch figure: its title wraps, nothing is cut."""
    import numpy as np

    from seg_f1.data.labels import CELEBAMASK_HQ_CLASSES
    from seg_f1.report import figures

    names = list(CELEBAMASK_HQ_CLASSES)
    where = (
        "epoch 20 · job 3 · loss=focal_dice loss.dice_weight=1.6648852816008435 "
        "optimizer.lr=0.0012345678901234 optimizer.weight_decay=0.00012345678901234"
    )
    rows = [{"epoch": 0, "train/loss": 1.0, "val/f1": 0.5, "lr": 1e-3}]
    made = [
        (figures.curves_figure(rows, f"training curves · {where}"), "suptitle"),
        (figures.per_class_f1_figure(names, [0.5] * 19, [0.05] * 19, 0.01, where), "title"),
        (figures.confusion_figure(np.eye(19), names, where), "title"),
    ]
    for fig, kind in made:
        title = fig._suptitle if kind == "suptitle" else fig.axes[0].title
        fig.canvas.draw()
        box, frame = title.get_window_extent(fig.canvas.get_renderer()), fig.bbox
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and box.y1 <= frame.y1, (kind, box)

"""seg_f1 as a user gets it: a wheel with conf/ inside, console scripts, another folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, TINY, run_env
from PIL import Image

COMMANDS = ["train", "evaluate", "predict", "export", "sweep-report", "dataset-stats",
            "class-weights"]  # fmt: skip
NOT_SOURCE_ANYWHERE = shutil.ignore_patterns(".git", "*.egg-info", "__pycache__", ".*_cache")
# seg_f1/data is source; .hypothesis changes while other pytest workers run their examples
NOT_SOURCE_AT_TOP = {".venv", "outputs", "data", "build", "dist", ".hypothesis"}


def not_source(folder: str, names: list[str]) -> set[str]:
    top = {n for n in names if n in NOT_SOURCE_AT_TOP} if Path(folder) == ROOT else set()
    return top | NOT_SOURCE_ANYWHERE(folder, names)


def outside_env() -> dict[str, str]:
    """No PYTHONPATH: the checkout must not be what pip or Python finds."""
    return {k: v for k, v in run_env().items() if k not in ("PYTHONPATH", "SEG_F1_ROOT")}


def run(command: list, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, (
        f"{command[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    )
    return done


def build_wheel(tmp_path: Path) -> Path:
    """From a copy of the source, as `pip install .` would (no build folder left in the repo)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=not_source)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    run([*pip_wheel, "-w", str(tmp_path / "dist"), str(source)], tmp_path, run_env())
    (wheel,) = (tmp_path / "dist").glob("seg_f1-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new venv holding only the wheel; the test venv's packages are reached through a .pth
    line (a plain path: its editable seg_f1 finder is not loaded), so the wheel's seg_f1 wins."""
    venv = tmp_path / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    run([base_python, "-m", "venv", "--without-pip", str(venv)], tmp_path, outside_env())
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                    tmp_path, outside_env()).stdout.strip())  # fmt: skip
    pip_install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    run([*pip_install, str(wheel)], tmp_path, outside_env())
    # only now: pip must not see (nor touch) the test venv's own seg_f1
    (site / "test_venv_packages.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


@pytest.mark.slow
def test_wheel_trains_and_predicts_from_another_folder(tmp_path):
    venv = fresh_venv(tmp_path, build_wheel(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    env = outside_env()
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "share"), PATH=f"{venv}/bin:{env['PATH']}")

    where = run([venv / "bin" / "python", "-c", "import seg_f1; print(seg_f1.CONF_DIR)"],
                elsewhere, env).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(venv) and where.endswith("site-packages/seg_f1/conf"), where
    for command in COMMANDS:
        assert (venv / "bin" / f"seg-f1-{command}").is_file(), command

    run(["seg-f1-train", *TINY, "test=false"], elsewhere, env)
    assert list(elsewhere.iterdir()) == [], "a run must not write into the folder it starts from"
    root = home / "share" / "seg_f1"  # the documented default root of an installed seg_f1
    (run_dir,) = (root / "outputs" / "runs").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (root / "data").is_dir()

    photo = elsewhere / "face.png"
    Image.fromarray(np.full((40, 30, 3), 128, np.uint8)).save(photo)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    predict = ["seg-f1-predict", f"ckpt_path={ckpt}", f"input={photo}", "output=masks"]
    run([*predict, "progress=false"], elsewhere, env)
    mask = Image.open(elsewhere / "masks" / "face_mask.png")
    assert mask.size == (30, 40)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["face.png", "masks"]


def test_checkout_is_the_default_root_and_the_env_var_moves_it(monkeypatch, tmp_path):
    import seg_f1

    monkeypatch.delenv(seg_f1.ROOT_ENV, raising=False)
    assert seg_f1.default_root() == str(ROOT)
    monkeypatch.setenv(seg_f1.ROOT_ENV, str(tmp_path / "elsewhere"))
    assert seg_f1.default_root() == str(tmp_path / "elsewhere")
    assert os.path.samefile(seg_f1.CONF_DIR, ROOT / "conf")


def test_the_plugin_scan_is_quiet_without_the_sweep_extra():
    """A user without Optuna (no `sweep` extra) must not get Hydra's "Plugin is incompatible"
    warning on every command: only the sweeper itself may import Optuna, and only when used."""
    without_optuna = (
        "import sys, warnings; sys.modules['optuna'] = None; warnings.simplefilter('always');"
        "from hydra.core.plugins import Plugins; from hydra.plugins.sweeper import Sweeper;"
        "print(sorted(p.__name__ for p in Plugins.instance().discover(Sweeper)))"
    )
    done = subprocess.run([sys.executable, "-c", without_optuna], cwd=ROOT, env=run_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OptunaSweeper" in done.stdout, done.stdout
    assert "incompatible" not in done.stderr and "optuna" not in done.stderr.lower(), done.stderr


def test_an_optuna_search_without_the_sweep_extra_names_the_extra(tmp_path):
    without_optuna = (
        "import sys; sys.modules['optuna'] = None; from seg_f1.train import main;"
        f"sys.argv = ['train.py', '-m', 'hparams_search=optuna', 'hydra.sweep.dir={tmp_path}'];"
        "main()"
    )
    done = subprocess.run([sys.executable, "-c", without_optuna], cwd=ROOT, env=run_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode != 0
    assert 'needs Optuna, which the `sweep` extra installs: pip install "seg_f1[sweep]"' in (
        done.stderr
    ), done.stderr[-3000:]
    assert "Error locating target" not in done.stderr


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_what_a_run_writes_at_the_root_of_a_checkout_is_ignored_by_git():
    written = ["outputs/runs/x/metrics.csv", "data/synthetic/x.png", "mlflow.db",
               "mlartifacts/1/x/artifacts/curves.png"]  # fmt: skip
    done = subprocess.run(["git", "check-ignore", "--no-index", *written], cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    assert done.stdout.split() == written, done.stdout + done.stderr


def test_an_installed_user_adds_an_experiment_with_config_dir(tmp_path):
    (tmp_path / "experiment").mkdir()
    mine = "# @package _global_\nloss:\n  dice_weight: 0.77\n"
    (tmp_path / "experiment" / "mine.yaml").write_text(mine)
    command = [sys.executable, "-m", "seg_f1.train", "--config-dir", str(tmp_path),
               "experiment=mine", "--cfg", "job"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=run_env(), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dice_weight: 0.77" in done.stdout

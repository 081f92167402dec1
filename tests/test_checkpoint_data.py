"""Commands after training read the checkpoint's own data config: an own-data model (data=folder,
its own classes, colour-coded labels) is evaluated and calibrated with ``ckpt_path`` alone; a
``data.<key>`` override still wins and is named."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, run_env
from test_lfw_parts import write_colour_folder

from seg_f1.config.checkpoint_data import data_overrides

OWN_DATA = [
    "data=folder", "data.classes=[background,skin,hair]", "data.flip_pairs=[]",
    "data.label_colors={background: [0,0,255], skin: [0,255,0], hair: [255,0,0]}",
    "data.image_size=16", "data.batch_size=2", "data.num_workers=0",
    "data.persistent_workers=false",
]  # fmt: skip


def command(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=run_env(), capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def test_overrides_of_the_data_group_are_told_apart():
    assert data_overrides(["data.root=/x", "+data.foo=1", "split=val", "data/augment=none"]) == (
        False, [("root", "/x"), ("foo", "1")]
    )  # fmt: skip
    assert data_overrides(["data=lapa", "data.root=/y"]) == (True, [("root", "/y")])


@pytest.mark.slow
def test_evaluate_and_calibrate_an_own_data_model_with_only_its_checkpoint(tmp_path):
    data = write_colour_folder(tmp_path / "faces")
    run = tmp_path / "run"
    trained = command("train.py", *OWN_DATA, f"data.root={data}", "trainer.max_epochs=1",
                      "~callbacks.progress_bar", "calibrate=false",
                      f"hydra.run.dir={run}")  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    (best,) = (run / "checkpoints").glob("epoch000-*.ckpt")
    evaluated = command("-m", "seg_f1.evaluate", f"ckpt_path={best}", "progress=false",
                        f"hydra.run.dir={tmp_path / 'eval'}")  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    rows = (tmp_path / "eval" / "evaluation.csv").read_text().splitlines()
    assert [row.split(",")[1] for row in rows[1:4]] == ["background", "skin", "hair"]
    calibrated = command("-m", "seg_f1.calibrate", f"ckpt_path={best}", "progress=false",
                         f"output_dir={tmp_path / 'cal'}", "store=false",
                         f"hydra.run.dir={tmp_path / 'cal_run'}")  # fmt: skip
    assert calibrated.returncode == 0, calibrated.stderr[-3000:]
    assert (tmp_path / "cal" / "calibration.json").is_file()

    moved = tmp_path / "moved"
    shutil.move(data, moved)
    lost = command("-m", "seg_f1.evaluate", f"ckpt_path={best}", "progress=false",
                   f"hydra.run.dir={tmp_path / 'eval_lost'}")  # fmt: skip
    assert lost.returncode != 0 and f"data.root={data}: no such folder" in lost.stderr
    found = command("-m", "seg_f1.evaluate", f"ckpt_path={best}", f"data.root={moved}",
                    "progress=false", f"hydra.run.dir={tmp_path / 'eval_moved'}")  # fmt: skip
    assert found.returncode == 0, found.stderr[-3000:]
    said = found.stdout + found.stderr
    assert f"data.root={moved} (the checkpoint was trained with {data})" in said

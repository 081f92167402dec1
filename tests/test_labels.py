"""The label sets live in seg_f1.data.labels; the data configs refer to them by name."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, run_env
from omegaconf import OmegaConf

from seg_f1.data.labels import (
    CELEBAMASK_HQ_CLASSES,
    CELEBAMASK_HQ_FLIP_PAIRS,
    LAPA_CLASSES,
    LAPA_FLIP_PAIRS,
    classes,
    flip_pairs,
)

CELEB = (list(CELEBAMASK_HQ_CLASSES), [list(p) for p in CELEBAMASK_HQ_FLIP_PAIRS])
LAPA = (list(LAPA_CLASSES), [list(p) for p in LAPA_FLIP_PAIRS])
DATASETS = {
    "synthetic": ((), CELEB),
    "celebamask_hq": (("data.root=/data/celeb",), CELEB),
    "folder": (("data.root=/data/faces",), CELEB),
    "lapa": (("data.root=/data/lapa",), LAPA),
    "helen": (("data.root=/data/helen",), LAPA),
}


def test_label_sets_hold_the_published_orders():
    assert len(CELEBAMASK_HQ_CLASSES) == 19 and len(LAPA_CLASSES) == 11
    assert CELEBAMASK_HQ_CLASSES.index("l_eye") == 4 and CELEBAMASK_HQ_CLASSES[-1] == "cloth"
    assert LAPA_CLASSES.index("inner_mouth") == 8
    assert classes("helen") == classes("lapa") == list(LAPA_CLASSES)
    assert flip_pairs("celebamask_hq") == [["l_eye", "r_eye"], ["l_brow", "r_brow"],
                                           ["l_ear", "r_ear"]]  # fmt: skip


@pytest.mark.parametrize("dataset", DATASETS)
def test_each_data_config_resolves_to_the_plain_lists(compose_cfg, dataset):
    overrides, (names, pairs) = DATASETS[dataset]
    cfg = compose_cfg(f"data={dataset}", *overrides, tiny=False)
    assert list(cfg.data.classes) == names and list(cfg.model.class_names) == names
    resolved = OmegaConf.to_container(cfg, resolve=True)  # what a checkpoint stores
    assert resolved["data"]["classes"] == names and resolved["data"]["flip_pairs"] == pairs
    assert resolved["data"]["augment"]["flip"]["classes"] == names


def test_a_class_list_on_the_command_line_still_wins(compose_cfg):
    override = ("data=folder", "data.root=/f", "data.classes=[bg,skin]", "data.flip_pairs=[]")
    cfg = compose_cfg(*override, tiny=False)
    assert list(cfg.data.classes) == ["bg", "skin"] and list(cfg.model.class_names) == [
        "bg",
        "skin",
    ]


def test_an_unknown_label_set_is_named_with_the_known_ones():
    data = OmegaConf.create({"classes": "${seg_f1.labels:lapa2}"})
    with pytest.raises(Exception, match="unknown label set 'lapa2'; choose one of celebamask_hq"):
        OmegaConf.to_container(data, resolve=True)


@pytest.mark.slow
def test_train_py_prints_the_resolved_class_list():
    """The entry point registers the resolvers before Hydra composes, as ``import seg_f1`` does."""
    result = subprocess.run(
        [sys.executable, "train.py", "--cfg", "job", "--resolve", "data=lapa", "data.root=/x"],
        cwd=ROOT, env=run_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    printed = yaml.safe_load(result.stdout)
    assert printed["data"]["classes"] == list(LAPA_CLASSES)
    assert printed["model"]["class_names"] == list(LAPA_CLASSES)

"""Shared fixtures: the real conf/ tree composed with tiny sizes, and an offline environment."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a hub lookup must fail at once, not after retries
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# under pytest-xdist (``make test`` runs one worker per core) each worker, and every train.py it
# starts, gets its share of the cores: two workers of two torch threads each on 2 cores would
# spin against each other and run slower than one
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _cores = len(os.sched_getaffinity(0))  # the CPUs this process may use, as xdist counted
    _share = max(1, _cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, str(_share))

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

import seg_f1  # noqa: E402, F401 - registers the resolvers conf/ uses

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# 32 px faces, a handful of images, two steps: a whole run in a few seconds on 2 CPU cores.
TINY = [
    "data.image_size=32",
    "data.source.num_train=8",
    "data.source.num_val=4",
    "data.source.num_test=4",
    "data.batch_size=4",
    "data.eval_batch_size=4",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "trainer.log_every_n_steps=1",
    "~callbacks.progress_bar",
    "calibrate=false",  # the decoding tests turn it on
]


@pytest.fixture(scope="session", autouse=True)
def outputs_outside_the_checkout(tmp_path_factory) -> None:
    """Every train.py a test starts writes under a session folder, never into this checkout's
    outputs/ (the default root of a checkout), unless the test names its own root."""
    os.environ["SEG_F1_ROOT"] = str(tmp_path_factory.mktemp("root"))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """One synthetic-data cache per session (per pytest-xdist worker); runs only differ in their
    outputs."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def compose_cfg(tmp_path: Path, data_dir: Path) -> Callable[..., DictConfig]:
    """Compose ``conf/config.yaml`` as ``train.py`` would, writing into ``tmp_path``."""

    def _compose(*overrides: str, tiny: bool = True) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(
                "config",
                overrides=[*(TINY if tiny else []), f"paths.data_dir={data_dir}", *overrides],
                return_hydra_config=True,
            )
        with open_dict(cfg):
            cfg.paths.root_dir = str(tmp_path)  # mlflow.db and the like stay in the test's folder
            cfg.paths.output_dir = str(tmp_path)
            cfg.hydra.runtime.output_dir = str(tmp_path)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg.hydra  # as in train.py, which never sees the hydra node
        return cfg

    yield _compose
    GlobalHydra.instance().clear()


def run_env() -> dict[str, str]:
    """The environment for ``train.py`` subprocesses: offline and on the test's own threads."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}

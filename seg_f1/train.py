"""``seg-f1-train`` / ``python -m seg_f1.train`` / ``python train.py``: one Hydra app over conf/.

Returns the best ``optimized_metric`` so Hydra sweepers (grid, Optuna) can maximise it.
"""

import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from seg_f1 import CONF_DIR
from seg_f1.callbacks.console import quiet_other_ranks
from seg_f1.runs.directory import announced, hydra_run_dir
from seg_f1.training import train

log = logging.getLogger(__name__)
# old option names kept for one release: group -> {old: new}
RENAMED = {"hparams_search": {"seed_grid": "dice_wd_lr_grid"}}


def warn_renamed_choices() -> None:
    choices = HydraConfig.get().runtime.choices
    for group, renamed in RENAMED.items():
        old = choices.get(group)
        if old in renamed:
            log.warning(
                "%s=%s is deprecated and will be removed in the next release; use %s=%s",
                group, old, group, renamed[old],
            )  # fmt: skip


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    quiet_other_ranks()
    warn_renamed_choices()
    with announced("train", hydra_run_dir()):
        return train(cfg)


if __name__ == "__main__":
    main()

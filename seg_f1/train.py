"""``seg-f1-train`` / ``python -m seg_f1.train`` / ``python train.py``: one Hydra app over conf/.

Returns the best ``optimized_metric`` so Hydra sweepers (grid, Optuna) can maximise it.
"""

import hydra
from omegaconf import DictConfig

from seg_f1 import CONF_DIR
from seg_f1.training import train


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    return train(cfg)


if __name__ == "__main__":
    main()

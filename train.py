"""Train a face-parsing model: ``python train.py [group=option] [key=value] [-m ...]``.

The config tree is ``conf/``; see the README for its groups. Returns the best ``optimized_metric``
so Hydra sweepers (grid, Optuna) can maximise it.
"""

import hydra
from omegaconf import DictConfig

from seg_f1.training import train


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    return train(cfg)


if __name__ == "__main__":
    main()

"""Renamed options keep working for one release, with a message naming the new one."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig

from seg_f1.train import warn_renamed_choices


def test_seed_grid_is_a_deprecated_alias_of_dice_wd_lr_grid(compose_cfg, caplog):
    compose_cfg("hparams_search=dice_wd_lr_grid")
    grid = dict(HydraConfig.get().sweeper.params)
    assert grid == {"loss.dice_weight": "0.5,0.8,1.0", "optimizer.weight_decay": "1e-4,5e-4",
                    "optimizer.lr": "5e-4,8e-4,1e-3"}  # fmt: skip
    warn_renamed_choices()
    assert "deprecated" not in caplog.text
    compose_cfg("hparams_search=seed_grid")
    assert dict(HydraConfig.get().sweeper.params) == grid
    warn_renamed_choices()
    assert "hparams_search=seed_grid is deprecated" in caplog.text
    assert "use hparams_search=dice_wd_lr_grid" in caplog.text

"""Config keys that moved: read at their old place for one more release, with a warning that
names the new key. Delete an entry here, and its alias in ``conf/``, in the release after."""

from __future__ import annotations

import warnings

from omegaconf import DictConfig, OmegaConf, open_dict


def move_deprecated_keys(cfg: DictConfig) -> None:
    """``trainer.on_nan`` is now ``model.on_nan`` (a ``SegmentationModule`` argument); in
    ``conf/trainer/cpu.yaml`` it only follows the new key. A value set at the old key still
    counts, with a FutureWarning, and the old key leaves ``trainer`` either way, so the Trainer
    never sees it. Running this twice changes nothing."""
    trainer = cfg.get("trainer")
    if trainer is None or "on_nan" not in trainer:
        return
    with open_dict(cfg):
        if not OmegaConf.is_interpolation(trainer, "on_nan"):
            warnings.warn(
                f"trainer.on_nan is deprecated and will be removed in the next release; set "
                f"model.on_nan={trainer.on_nan} instead (this run uses that value)",
                FutureWarning,
                stacklevel=2,
            )
            cfg.model.on_nan = trainer.on_nan
        del trainer["on_nan"]

"""The data a checkpoint was trained on, for the commands that come after training (evaluate,
calibrate): a model trained with ``data=folder`` and its own classes is evaluated with
``ckpt_path=`` alone, not with every ``data.*`` override typed again.

The checkpoint stores its run's resolved ``data`` config. A ``data.<key>=`` override on the
command line still wins (and is named where it differs from the checkpoint's); ``data=<option>``
chooses a dataset config of its own instead of the stored one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from seg_f1.runs.results import task_overrides

log = logging.getLogger(__name__)


def data_overrides(overrides: Sequence[str]) -> tuple[bool, list[tuple[str, str]]]:
    """Whether the command line chose a data option (``data=lfw_parts``), and its
    ``data.<key>=<value>`` overrides as (key below data, value) pairs."""
    chose, keys = False, []
    for override in overrides:
        key, _, value = override.lstrip("+~").partition("=")
        if key == "data":
            chose = True
        elif key.startswith("data.") and not key.startswith("data.augment"):
            keys.append((key.removeprefix("data."), value))
    return chose, keys


def checkpoint_data(cfg: DictConfig, overrides: Sequence[str], ckpt_path: str | Path) -> Any:
    """``cfg.data`` for a command over ``ckpt_path``: the checkpoint's stored data config with
    the command line's ``data.*`` overrides on top, unless ``data=<option>`` was given or the
    checkpoint stores none (then the composed ``cfg.data``)."""
    from seg_f1.runs.checkpoints import load_checkpoint

    chose, keys = data_overrides(overrides)
    stored = (load_checkpoint(ckpt_path, mmap=True).get("config") or {}).get("data")
    if chose or not isinstance(stored, dict) or "_target_" not in stored:
        return cfg.data  # an older or hand-made checkpoint stores no buildable data config
    data = OmegaConf.create(stored)
    for key, _ in keys:
        now = OmegaConf.select(cfg.data, key)
        was = OmegaConf.select(data, key)
        if now != was:
            log.info("data.%s=%s (the checkpoint was trained with %s)", key, now, was)
        _set_with_copies(data, key, now, was)
    log.info("data: %s's stored config (%s classes)", ckpt_path, len(data.get("classes", [])))
    return data


def _set_with_copies(data: DictConfig, key: str, now: Any, was: Any) -> None:
    """Set ``key``, and every nested key of the same name that held the same value: the stored
    config is resolved, so ``source.root: ${data.root}`` was stored as a copy of the root."""
    OmegaConf.update(data, key, now, force_add=True)
    name = key.rsplit(".", 1)[-1]
    for parent in _nodes(data):
        if parent is not data and name in parent and parent[name] == was and was is not None:
            parent[name] = now


def _nodes(node: DictConfig):
    yield node
    for value in node.values():
        if isinstance(value, DictConfig):
            yield from _nodes(value)


def use_checkpoint_data(cfg: DictConfig) -> None:
    """In a Hydra command over ``cfg.ckpt_path``: ``cfg.data`` becomes the checkpoint's own,
    with this command line's data overrides."""
    data = checkpoint_data(cfg, task_overrides(), cfg.ckpt_path)
    with open_dict(cfg):
        cfg.data = data

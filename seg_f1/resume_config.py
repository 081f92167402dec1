"""A continued run trains what the run it continues trained: only its budget may change.

Resuming with another loss, model or data would give a result that belongs to neither config.
The checkpoint stores its run's resolved config, so the keys that decide what is trained are
compared with this run's; how long it trains (``trainer.max_epochs``, ...), where it writes,
what it logs and how fast it reads the data may differ.
"""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

TRAINED_KEYS = ("seed", "model", "loss", "data", "optimizer", "scheduler", "optimized_metric",
                "trainer.precision", "trainer.accumulate_grad_batches",
                "trainer.gradient_clip_val", "trainer.gradient_clip_algorithm",
                "trainer.limit_train_batches", "trainer.on_nan")  # fmt: skip
# under data: how the files are read, not what they are
LOADING_KEYS = ("data.num_workers", "data.pin_memory", "data.persistent_workers",
                "data.eval_batch_size", "data.validate", "data.source.num_workers")  # fmt: skip


BUDGET_KEYS = ("trainer.max_epochs", "trainer.max_steps", "trainer.max_time",
               "trainer.min_epochs", "trainer.min_steps")  # fmt: skip


def config_changes(stored: dict, cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """``{dotted key: {"was": ..., "now": ...}}`` for every trained key that differs, leaving
    out those that only follow the budget (``scheduler.T_max: ${trainer.max_epochs}``)."""
    current = OmegaConf.to_container(cfg, resolve=True)
    raw = OmegaConf.to_container(cfg, resolve=False)
    changes: dict[str, dict[str, Any]] = {}
    for key in TRAINED_KEYS:
        _diff(_get(stored, key), _get(current, key), key, changes)
    return {
        key: change
        for key, change in changes.items()
        if key not in LOADING_KEYS and not _follows_budget(_get(raw, key))
    }


def check_continued_config(
    stored: dict | None, cfg: DictConfig, force: bool, ckpt_path: str
) -> dict[str, dict[str, Any]]:
    """The changes against the continued run's config; refused unless ``force``.

    Raises:
        ValueError: naming each differing key with both values, and ``resume_force=true``.
    """
    if stored is None:
        log.warning("%s stores no run config: cannot check what this run changes", ckpt_path)
        return {}
    changes = config_changes(stored, cfg)
    shown = "\n  ".join(
        f"{key}: {_short(change['was'])} -> {_short(change['now'])}"
        for key, change in changes.items()
    )
    if changes and not force:
        raise ValueError(
            f"{ckpt_path} was trained with another config; a continued run may change only "
            f"its budget (trainer.max_epochs, ...), but these keys differ:\n  {shown}\n"
            "Start a new run for a new config, or pass resume_force=true to continue anyway "
            "(the changes are then recorded in result.json as resume_changes)."
        )
    if changes:
        log.warning("resume_force=true: continuing %s with changed keys:\n  %s", ckpt_path, shown)
    return changes


def _follows_budget(raw: Any) -> bool:
    return isinstance(raw, str) and any(f"${{{key}}}" in raw for key in BUDGET_KEYS)


def _get(config: dict, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(config, dict) or part not in config:
            return None
        config = config[part]
    return config


def _diff(was: Any, now: Any, key: str, changes: dict[str, dict[str, Any]]) -> None:
    if isinstance(was, dict) and isinstance(now, dict):
        for part in sorted(was.keys() | now.keys()):
            _diff(was.get(part), now.get(part), f"{key}.{part}", changes)
    elif was != now:
        changes[key] = {"was": was, "now": now}


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."

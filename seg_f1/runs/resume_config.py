"""A continued run trains what the run it continues trained: only its budget may change.

Resuming with another loss, model or data would give a result that belongs to neither config.
The checkpoint stores its run's resolved config, so the keys that decide what is trained are
compared with this run's; how long it trains (``trainer.max_epochs``, ...), where it reads and
writes (``paths``, ``data.root``), what it logs and how fast it reads the data may differ. A key
that a later version of ``conf/`` added is missing from an older checkpoint's config: it counts
as unchanged when this run leaves it at its default.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from seg_f1 import CONF_DIR

log = logging.getLogger(__name__)

TRAINED_KEYS = ("seed", "model", "loss", "data", "optimizer", "scheduler", "optimized_metric",
                "trainer.precision", "trainer.accumulate_grad_batches",
                "trainer.gradient_clip_val", "trainer.gradient_clip_algorithm",
                "trainer.limit_train_batches")  # fmt: skip
# under data: how the files are read, not what they are
LOADING_KEYS = ("data.num_workers", "data.pin_memory", "data.persistent_workers",
                "data.prefetch_factor", "data.eval_batch_size", "data.validate",
                "data.max_pixels", "data.source.num_workers")  # fmt: skip
# where the files lie: a requeue from another directory, data staged to $TMPDIR
LOCATION_KEYS = ("paths", "data.root", "data.source.root", "data.source.cache_dir")
BUDGET_KEYS = ("trainer.max_epochs", "trainer.max_steps", "trainer.max_time",
               "trainer.min_epochs", "trainer.min_steps")  # fmt: skip
FREE_KEYS = LOADING_KEYS + LOCATION_KEYS + BUDGET_KEYS
NO_DEFAULT = object()


def config_changes(stored: dict, cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """``{dotted key: {"was": ..., "now": ...}}`` for every trained key that differs, leaving
    out the free keys, those that only follow one (``scheduler.T_max: ${trainer.max_epochs}``,
    ``data.source.cache_dir: ${paths.data_dir}``) and those the stored config predates."""
    current = OmegaConf.to_container(cfg, resolve=True)
    raw = OmegaConf.to_container(cfg, resolve=False)
    changes: dict[str, dict[str, Any]] = {}
    for key in TRAINED_KEYS:
        _diff(_get(stored, key), _get(current, key), key, changes)
    return {
        key: change
        for key, change in changes.items()
        if not _is_free(key, _get(raw, key)) and not _predates(stored, key, change["now"])
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


def _is_free(key: str, raw: Any) -> bool:
    """A free key, or one whose value interpolates one."""
    followed = re.findall(r"\$\{([\w.]+)\}", raw) if isinstance(raw, str) else []
    return any(_under(name, FREE_KEYS) for name in (key, *followed))


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in prefixes)


def _predates(stored: dict, key: str, now: Any) -> bool:
    """The stored config has no ``key`` (written before ``conf/`` had it) and this run leaves
    it at its default."""
    parent, _, name = key.rpartition(".")
    holder = _get(stored, parent) if parent else stored
    if not isinstance(holder, dict) or name in holder:
        return False
    return now == conf_default(key, stored)


def conf_default(key: str, stored: dict | None = None) -> Any:
    """The value every option of the key's group in ``conf/`` gives it (``data.mask_size``: each
    ``conf/data/*.yaml``, over the shared ``data/loader/default.yaml`` it includes), or
    ``NO_DEFAULT`` where they differ, leave it out or interpolate. With the ``stored`` run
    config, only the options that build what it built count (the same ``_target_`` classes:
    a synthetic run's default is synthetic's, whatever ``lfw_parts`` sets)."""
    parts, folder = key.split("."), CONF_DIR
    group = []
    while len(parts) > 1 and (folder / parts[0]).is_dir():
        folder = folder / parts[0]
        group.append(parts.pop(0))
    files = sorted(folder.glob("*.yaml")) if folder != CONF_DIR else [folder / "config.yaml"]
    rest = ".".join(parts)
    options = [_with_included(f) for f in files]
    built = _get(stored, ".".join(group)) if stored is not None and group else None
    if isinstance(built, dict):
        options = [o for o in options if _same_targets(o, built)] or options
    values = [_get(option, rest, NO_DEFAULT) for option in options]
    first = values[0] if values else NO_DEFAULT
    interpolated = isinstance(first, str) and "${" in first
    return first if all(v == first for v in values) and not interpolated else NO_DEFAULT


def _same_targets(option: dict, built: dict) -> bool:
    """Every ``_target_`` the option names is the one the stored config names at that place."""
    for name, value in option.items():
        if name == "_target_" and built.get(name) != value:
            return False
        if isinstance(value, dict) and not _same_targets(value, built.get(name) or {}):
            return False
    return True


def _with_included(path: Path) -> dict:
    """A config file over the plain configs its defaults list includes ``@_here_`` (group
    selections such as ``augment: light`` land under their own key and are left out)."""
    own = OmegaConf.load(path)
    included = [
        OmegaConf.load(path.parent / f"{entry.removesuffix('@_here_')}.yaml")
        for entry in own.get("defaults", [])
        if isinstance(entry, str) and entry.endswith("@_here_")
    ]
    return OmegaConf.to_container(OmegaConf.merge(*included, own))


def _get(config: dict, key: str, missing: Any = None) -> Any:
    for part in key.split("."):
        if not isinstance(config, dict) or part not in config:
            return missing
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

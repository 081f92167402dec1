"""Build a ``CompositeLoss`` from a ``conf/loss`` group, failing early with the key at fault.

A loss config pairs every top-level ``<term>_weight`` with a ``<term>`` block that Hydra can
instantiate; ``class_weights`` sits at the top and is resolved by the caller. Each loss checks
its own arguments in its constructor; this module checks the config's shape and names the key.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import hydra.utils
import torch
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from seg_f1.losses.base import ArgumentError, check_number
from seg_f1.losses.composite import CompositeLoss

_WEIGHT_SUFFIX = "_weight"
# Set by build_loss from the data and the resolved class weights, never inside a term block.
_INJECTED = ("ignore_index", "class_weights", "num_classes")


def build_loss(
    cfg: DictConfig | Mapping[str, Any],
    *,
    num_classes: int,
    ignore_index: int = 255,
    class_weights: torch.Tensor | None = None,
) -> CompositeLoss:
    """Validate the ``loss`` config, then instantiate its terms into a ``CompositeLoss``.

    Args:
        cfg: the ``loss`` group (``<term>_weight`` keys, ``<term>`` blocks, ``class_weights``).
        num_classes: number of classes of the data, to check per-class vectors against.
        ignore_index: the data's ignore label, passed to every term.
        class_weights: ``cfg.class_weights`` already resolved to a ``[num_classes]`` tensor
            (``resolve_class_weights``), passed to every term whose constructor takes it.

    Raises:
        ValueError: naming the full key (``loss.focal.gamma``) of the first invalid value.
    """
    # A DictConfig node is read in place so interpolations into the root config still resolve.
    config = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    spec = OmegaConf.to_container(config, resolve=True)
    weights, blocks = _split_terms(spec)
    targets = {name: _target_class(name, block) for name, block in blocks.items()}
    for name, block in blocks.items():
        _check_block(name, block, targets[name])
    _check_class_weights(spec.get("class_weights"), class_weights, num_classes, targets)
    injected = {"ignore_index": ignore_index, "num_classes": num_classes}
    if class_weights is not None:
        injected["class_weights"] = class_weights
    terms = {
        name: _instantiate(name, block, _accepted(targets[name], injected))
        for name, block in blocks.items()
    }
    return CompositeLoss(terms, weights)


def _instantiate(name: str, block: dict, injected: dict) -> Any:
    """The term; a ValueError of its constructor is raised again under its key."""
    try:
        return hydra.utils.instantiate(block, _convert_="all", **injected)
    except InstantiationException as error:
        if isinstance(error.__cause__, ArgumentError):  # "gamma must be ..."
            raise ValueError(f"loss.{name}.{error.__cause__}") from error.__cause__
        if isinstance(error.__cause__, ValueError):
            raise ValueError(f"loss.{name}: {error.__cause__}") from error.__cause__
        raise


def _split_terms(spec: dict[str, Any]) -> tuple[dict[str, float], dict[str, dict]]:
    weights, blocks = {}, {}
    for key, value in spec.items():
        if key == "class_weights":
            continue
        if key.endswith(_WEIGHT_SUFFIX):
            try:
                check_number(f"loss.{key}", value, ">= 0")
            except ArgumentError as error:  # a config key, not a loss argument: a ValueError
                raise ValueError(str(error)) from None
            weights[key.removesuffix(_WEIGHT_SUFFIX)] = float(value)
        elif isinstance(value, dict):
            blocks[key] = value
        else:
            raise ValueError(
                f"loss.{key} is neither a '<term>_weight' number nor a '<term>' block with a "
                f"_target_, got {value!r}"
            )
    for name in weights.keys() - blocks.keys():
        raise ValueError(f"loss.{name}_weight has no loss.{name} block with the term to weigh")
    for name in blocks.keys() - weights.keys():
        raise ValueError(f"loss.{name} has no loss.{name}_weight; add one (0 switches it off)")
    return weights, blocks


def _target_class(name: str, block: dict) -> type:
    if "_target_" not in block:
        raise ValueError(f"loss.{name}._target_ is missing (e.g. seg_f1.losses.DiceLoss)")
    try:
        return hydra.utils.get_class(block["_target_"])
    except Exception as error:
        raise ValueError(f"loss.{name}._target_ {block['_target_']!r}: {error}") from None


def _check_block(name: str, block: dict, target: type) -> None:
    accepted = set(inspect.signature(target).parameters) - set(_INJECTED)
    for arg in block:
        key = f"loss.{name}.{arg}"
        if arg == "_target_":
            continue
        if arg in _INJECTED:
            raise ValueError(f"{key} is set from the data and loss.class_weights; remove it here")
        if arg not in accepted:
            raise ValueError(
                f"{key} is not an argument of {target.__name__} "
                f"(it takes {', '.join(sorted(accepted))})"
            )


def _check_class_weights(
    spec: Any, class_weights: torch.Tensor | None, num_classes: int, targets: dict[str, type]
) -> None:
    if class_weights is None:
        if spec is not None:
            raise ValueError(
                f"loss.class_weights is {spec!r} but build_loss got no resolved weights; "
                "resolve it with seg_f1.losses.class_weights.resolve_class_weights"
            )
        return
    if class_weights.dim() != 1 or len(class_weights) != num_classes:
        raise ValueError(
            f"loss.class_weights has {class_weights.numel()} entries but the data has "
            f"{num_classes} classes"
        )
    if not (torch.isfinite(class_weights).all() and (class_weights >= 0).all()):
        raise ValueError(
            f"loss.class_weights must be finite and >= 0, got {class_weights.tolist()}"
        )
    if not any(_takes_class_weights(target) for target in targets.values()):
        raise ValueError(
            f"loss.class_weights is set but no term ({', '.join(targets)}) takes class weights"
        )


def _accepted(target: type, injected: dict) -> dict:
    """The injected values the term's constructor takes."""
    parameters = inspect.signature(target).parameters
    return {key: value for key, value in injected.items() if key in parameters}


def _takes_class_weights(target: type) -> bool:
    return "class_weights" in inspect.signature(target).parameters

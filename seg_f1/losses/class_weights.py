"""Per-class loss weights from the training masks' pixel counts (``seg_f1.data.pixel_counts``),
and their resolution from config.

Face parts are badly imbalanced (eyes cover ~0.2% of the pixels where present, hair and skin
~32%), and mean F1 weighs every class alike; weighting the loss by class rarity moves the
surrogate towards that metric.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seg_f1 import counted
from seg_f1.data.label_colors import LabelColors
from seg_f1.data.pixel_counts import ClassCounts, count_pixels
from seg_f1.runs.checkpoints import load_checkpoint, save_torch
from seg_f1.runs.io import fingerprint, write_atomically

log = logging.getLogger(__name__)

METHODS = ("inverse", "median_freq", "enet", "effective_number")
_KEY = "loss.class_weights"


def compute_class_weights(
    counts: ClassCounts,
    method: str,
    beta: float = 0.999,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Per-class weights ``[C]`` (float64), mean 1 over the classes that occur.

    With ``n_c`` the pixels of class c, ``N = sum n_c`` and ``C`` the number of classes:

    - ``inverse``: ``w_c = N / (C * n_c)``.
    - ``median_freq`` (Eigen & Fergus 2015): ``f_c = n_c / image_pixels_c``,
      ``w_c = median(f) / f_c`` (median over the occurring classes).
    - ``enet`` (Paszke et al. 2016): ``w_c = 1 / ln(1.02 + n_c / N)``.
    - ``effective_number`` (Cui et al. 2019): ``w_c = (1 - beta) / (1 - beta**n_c)``.

    A class with no pixels gets weight 0 and a warning that names it.

    Args:
        counts: from ``count_pixels`` over the training split.
        method: one of ``METHODS``.
        beta: in [0, 1), for ``effective_number`` only.
        class_names: used in the warning for absent classes.
    """
    if method not in METHODS:
        raise ValueError(
            f"unknown class-weight method {method!r}; choose one of {', '.join(METHODS)}"
        )
    n = counts.pixels.astype(np.float64)
    occurs = n > 0
    if not occurs.any():
        raise ValueError("the masks have no labelled pixels: cannot compute class weights")
    weights = np.zeros_like(n)
    if method == "inverse":
        weights[occurs] = n.sum() / (len(n) * n[occurs])
    elif method == "median_freq":
        freq = n[occurs] / counts.image_pixels[occurs]
        weights[occurs] = np.median(freq) / freq
    elif method == "enet":
        weights[occurs] = 1 / np.log(1.02 + n[occurs] / n.sum())
    else:
        if not 0 <= beta < 1:
            raise ValueError(f"effective_number needs beta in [0, 1), got {beta}")
        # 1 - beta**n computed as -expm1(n ln beta): beta**n underflows for millions of pixels.
        weights[occurs] = (1 - beta) / -np.expm1(n[occurs] * math.log(beta))
    for index in np.flatnonzero(~occurs):
        name = class_names[index] if class_names is not None else "?"
        warnings.warn(
            f"class {index} ({name}) has no pixels in the masks; its class weight is 0",
            stacklevel=2,
        )
    return weights / weights[occurs].mean()


def save_class_weights(
    weights: np.ndarray,
    counts: ClassCounts,
    class_names: Sequence[str],
    method: str,
    out_dir: Path,
    stem: str = "class_weights",
) -> tuple[Path, Path]:
    """Write ``<stem>.pt`` (a float32 tensor) and ``<stem>.json`` (per class: pixels, frequency,
    images, weight) into ``out_dir``, each atomically, and return their paths.

    The ``.pt`` file holds only a tensor so it loads with ``torch.load(weights_only=True)``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pt_path, json_path = out_dir / f"{stem}.pt", out_dir / f"{stem}.json"
    tensor = torch.as_tensor(weights, dtype=torch.float32)
    save_torch(tensor, pt_path)
    report = {
        "method": method,
        "num_images": counts.num_images,
        "classes": {
            name: {
                "pixels": int(counts.pixels[i]),
                "frequency": float(counts.frequency[i]),
                "images": int(counts.images_with_class[i]),
                "weight": float(weights[i]),
            }
            for i, name in enumerate(class_names)
        },
    }
    write_atomically(json_path, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))
    return pt_path, json_path


def resolve_class_weights(
    spec: Any,
    *,
    class_names: Sequence[str],
    ignore_index: int,
    mask_paths: Callable[[], Sequence[Path]],
    cache_dirs: Sequence[Path],
    label_colors: LabelColors | None = None,
) -> torch.Tensor | None:
    """Turn ``loss.class_weights`` into a ``[C]`` float32 tensor, or None.

    ``spec`` may be None; a method name from ``METHODS`` (computed from ``mask_paths()``, the
    training masks, and cached in the first writable of ``cache_dirs``, keyed by the method, the
    classes, the ignore index, the label colours and the masks' paths, sizes and mtimes, so
    relabelled masks are counted again); a path to a ``.pt`` tensor or a ``.json`` written by
    ``save_class_weights``; or an explicit list of C numbers.

    Raises:
        ValueError: naming ``loss.class_weights`` (and the file) when it cannot be read or does
            not hold one finite weight >= 0 per class.
    """
    if spec is None:
        return None
    if isinstance(spec, str) and spec in METHODS:
        masks = mask_paths()
        weights, source = _cached_method(
            spec, class_names, ignore_index, masks, cache_dirs, label_colors
        )
    elif isinstance(spec, str | Path):
        source = Path(spec).expanduser()
        weights = _load_file(source, class_names)
    elif isinstance(spec, Sequence):
        weights, source = list(spec), None
    else:
        raise ValueError(
            f"{_KEY} must be null, a method ({', '.join(METHODS)}), a .pt/.json path or a list, "
            f"got {spec!r}"
        )
    return _checked(weights, len(class_names), source)


def cache_stem(
    method: str,
    class_names: Sequence[str],
    ignore_index: int,
    masks: Sequence[Path],
    label_colors: LabelColors | None = None,
) -> str:
    """``class_weights_<method>-<key>``: the key changes with anything that changes the weights."""
    stats = {str(Path(path).resolve()): Path(path).stat() for path in masks}
    inputs = [method, list(class_names), ignore_index, fingerprint(stats)]
    if label_colors is not None:
        inputs.append([list(label_colors.colours), list(label_colors.indices)])
    return f"class_weights_{method}-{hashlib.sha1(json.dumps(inputs).encode()).hexdigest()[:12]}"


def _cached_method(
    method: str,
    class_names: Sequence[str],
    ignore_index: int,
    masks: Sequence[Path],
    cache_dirs: Sequence[Path],
    label_colors: LabelColors | None = None,
) -> tuple[torch.Tensor, Path | None]:
    stem = cache_stem(method, class_names, ignore_index, masks, label_colors)
    for cached in (Path(folder) / f"{stem}.pt" for folder in cache_dirs):
        if cached.is_file():
            return _load_file(cached, class_names), cached
    log.info("computing %s class weights from %s", method, counted(len(masks), "training mask"))
    counts = count_pixels(masks, len(class_names), ignore_index, colors=label_colors)
    weights = compute_class_weights(counts, method, class_names=class_names)
    for folder in cache_dirs:
        try:
            pt_path, _ = save_class_weights(weights, counts, class_names, method, folder, stem)
            return torch.as_tensor(weights, dtype=torch.float32), pt_path
        except OSError as error:  # a read-only dataset, for one
            log.warning("cannot cache class weights in %s: %s", folder, error)
    log.warning("class weights are not cached anywhere; every run counts the masks again")
    return torch.as_tensor(weights, dtype=torch.float32), None


def _load_file(path: Path, class_names: Sequence[str]) -> Any:
    if path.suffix not in (".pt", ".json"):
        raise ValueError(
            f"{_KEY}={str(path)!r} is neither a method ({', '.join(METHODS)}) nor a .pt/.json file"
        )
    if not path.is_file():
        raise ValueError(f"{_KEY}: file {path} does not exist")
    if path.suffix == ".pt":
        try:
            return load_checkpoint(path)
        except ValueError as error:  # it names the file
            raise ValueError(f"{_KEY}: {error}") from None
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{_KEY}: cannot read {path}: {error}") from None
    return _weights_from_json(report, class_names, path)


def _weights_from_json(report: Any, class_names: Sequence[str], path: Path) -> list[float]:
    """Weights from a ``save_class_weights`` report (checked against the class names) or a list."""
    if isinstance(report, list):
        return report
    classes = report.get("classes") if isinstance(report, dict) else None
    if not isinstance(classes, dict):
        raise ValueError(f"{_KEY}: {path} holds neither a list nor a 'classes' mapping")
    if list(classes) != list(class_names):
        raise ValueError(
            f"{_KEY}: {path} lists classes {list(classes)} but the data has {list(class_names)}"
        )
    try:
        return [entry["weight"] for entry in classes.values()]
    except (KeyError, TypeError):
        raise ValueError(f"{_KEY}: {path} has a class without a 'weight'") from None


def _checked(weights: Any, num_classes: int, source: Path | None) -> torch.Tensor:
    where = f" ({source})" if source is not None else ""
    try:
        tensor = torch.as_tensor(weights, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{_KEY}{where} is not a list of numbers: {error}") from None
    if tensor.dim() != 1 or len(tensor) != num_classes:
        raise ValueError(
            f"{_KEY}{where} has {tensor.numel()} entries but the data has {num_classes} classes"
        )
    if not (torch.isfinite(tensor).all() and (tensor >= 0).all()):
        raise ValueError(f"{_KEY}{where} must be finite and >= 0, got {tensor.tolist()}")
    return tensor

"""Which rule draws a mask (``decode=argmax|f1|both``) and the F1 offsets a checkpoint carries:
what predict and evaluate need of the decision rule, without the tuning (``decoding``), which
loads torchmetrics. Offsets are numpy arrays, so predict through onnxruntime never loads torch."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

KEY = "decision_offsets"  # where a checkpoint keeps them
DECODES = ("argmax", "f1", "both")
# tuning searches within ±this (decoding.tune_offsets); a log-probability shift beyond it is no
# tuned offset but an edited or damaged file, which would flood or erase classes without a word
OFFSET_LIMIT = 4.0


def checked_offsets(values, class_names: Sequence[str], source) -> np.ndarray:
    """One finite offset within ±``OFFSET_LIMIT`` per class, or an error naming ``source`` and
    the class: a NaN offset would erase its class, an infinite or huge one flood the mask."""
    names = list(class_names)
    try:
        given = np.asarray(values)
    except (TypeError, ValueError) as error:  # ragged lists
        given = np.asarray([error], dtype=object)
    if given.dtype.kind not in "biuf":  # text, None, nested lists: never cast into numbers
        raise ValueError(f"{source}: decision offsets {values!r} are not numbers")
    offsets = given.astype(np.float32).reshape(-1)
    if offsets.size != len(names):
        raise ValueError(
            f"{source}: {offsets.size} decision offsets for {len(names)} classes {names}"
        )
    for name, value in zip(names, offsets.tolist(), strict=True):
        if not math.isfinite(value) or abs(value) > OFFSET_LIMIT:
            raise ValueError(
                f"{source}: decision offset of class {name!r} is {value}, expected a finite "
                f"number within ±{OFFSET_LIMIT:g}; calibrate again (python -m seg_f1.calibrate) "
                "or use decode=argmax"
            )
    return offsets


def stored_offsets(checkpoint: dict, class_names: Sequence[str], source) -> np.ndarray | None:
    """The checkpoint's offsets, refused when tuned for other classes than ``class_names``."""
    stored = checkpoint.get(KEY)
    if not stored:
        return None
    if list(stored.get("classes", [])) != list(class_names):
        raise ValueError(
            f"{source}: its decision offsets were tuned for the classes {stored.get('classes')}, "
            f"not {list(class_names)}; calibrate it again: python -m seg_f1.calibrate "
            f"ckpt_path={source}"
        )
    return checked_offsets(stored.get("offsets"), class_names, source)


def shifted(scores, offsets, dim: int = 1):
    """Logits or log-probabilities (a torch tensor) with each class's offset (a tensor or a
    numpy array) added along ``dim``: what the F1 rule takes the argmax of (``scores`` itself
    without offsets)."""
    if offsets is None:
        return scores
    shape = [1] * scores.dim()
    shape[dim] = -1
    offsets = offsets.to(scores) if hasattr(offsets, "to") else scores.new_tensor(offsets)
    return scores + offsets.view(shape)


def chosen_offsets(decode: str, offsets: np.ndarray | None, source) -> np.ndarray | None:
    """The one rule a mask is drawn with (``decode=argmax|f1``): None for argmax."""
    if decode == "both":
        raise ValueError("decode=both scores two rules; a mask takes one: decode=argmax or f1")
    return decoding_rules(decode, offsets, source).get("f1")


def decoding_rules(decode: str, offsets, source) -> dict:
    """``decode=argmax|f1|both`` as named decision rules; ``f1`` needs tuned offsets."""
    if decode not in DECODES:
        raise ValueError(f"decode={decode!r}: expected one of {DECODES}")
    if decode != "argmax" and offsets is None:
        raise ValueError(
            f"decode={decode}: {source} has no decision offsets; tune them with "
            f"python -m seg_f1.calibrate ckpt_path=<checkpoint> (or train with calibrate=true), "
            "or use decode=argmax"
        )
    rules = {}
    if decode in ("argmax", "both"):
        rules["argmax"] = None
    if decode in ("f1", "both"):
        rules["f1"] = offsets
    return rules

"""The one way seg_f1 reads a checkpoint or a cached tensor: never through arbitrary pickle.

``torch.load(weights_only=True)`` only rebuilds tensors and plain containers, so a file crafted to
run code when unpickled is refused instead. Everything seg_f1 and Lightning store in a run's
checkpoint (weights, optimizer and scheduler state, loops, callback states, RNG states kept
without numpy objects, the run config) is plain data, so no class needs allow-listing.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch


def load_checkpoint(path: str | Path, map_location: Any = "cpu", mmap: bool = False) -> Any:
    """The file's content; a missing, empty, truncated or code-carrying file is named.

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the path, when the file is unreadable or needs arbitrary pickle.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path: no such file {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        reason = _unsafe_reason(error)
        if reason is not None:
            raise ValueError(
                f"{path}: refused, it needs arbitrary pickle to load, which could run any code "
                f"(weights_only=True found: {reason}). Only load checkpoints written by seg_f1 "
                "training, or re-save the weights as a state_dict."
            ) from error
        raise _unreadable(path, error) from error
    except (EOFError, RuntimeError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise _unreadable(path, error) from error


# What weights_only=True says about a class or callable outside the allow-list; anything else it
# refuses (an unknown opcode, say) is a damaged file.
_UNSAFE_MARKERS = ("Unsupported global", "unrecognized function")
_TORCH_ADVICE = ("Weights only load failed", "Please file", "WeightsUnpickler error", "Check the")


def _unsafe_reason(error: pickle.UnpicklingError) -> str | None:
    lines = str(error).splitlines()
    found = next((line for line in lines if any(m in line for m in _UNSAFE_MARKERS)), None)
    return None if found is None else found.strip()[:300]


def _unreadable(path: Path, error: BaseException) -> ValueError:
    size = path.stat().st_size
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    own = [line for line in lines if not line.startswith(_TORCH_ADVICE)]  # e.g. "Ran out of input"
    detail = (own or [type(error).__name__])[0][:200]
    return ValueError(
        f"{path}: cannot read the checkpoint ({size} bytes; {detail}); it is empty, truncated "
        "(a full disk, a copy that did not finish) or not a torch file"
    )

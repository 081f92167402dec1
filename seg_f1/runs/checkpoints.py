"""The one way seg_f1 reads a checkpoint or a cached tensor (never through arbitrary pickle), and
the one way it writes one (atomically, with a full disk named).

``torch.load(weights_only=True)`` only rebuilds tensors and plain containers, so a file crafted to
run code when unpickled is refused instead. Everything seg_f1 and Lightning store in a run's
checkpoint (weights, optimizer and scheduler state, loops, callback states, RNG states kept
without numpy objects, the run config) is plain data, so no class needs allow-listing.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from seg_f1.runs.io import write_atomically


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
    except (pickle.UnpicklingError, RuntimeError) as error:  # torch < 2.4 raised RuntimeError
        reason = _unsafe_reason(error)
        if reason is not None:
            raise ValueError(
                f"{path}: refused, it needs arbitrary pickle to load, which could run any code "
                f"(it calls {reason}, which weights_only=True does not allow). A checkpoint "
                "that needs code to load may be malicious: only load checkpoints written by "
                "seg_f1 training, or re-save the weights as a state_dict."
            ) from None
        if _plain_pickle(path):
            raise ValueError(
                f"{path}: refused, it is a plain pickle file, not a checkpoint torch.save wrote; "
                "reading it needs arbitrary pickle, which could run any code, so it was not "
                "read. Load it only if you wrote it yourself, then save the weights with "
                "torch.save(model.state_dict(), ...) or train a seg_f1 checkpoint."
            ) from None
        raise _unreadable(path, error) from error
    except (EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise _unreadable(path, error) from error


# How weights_only=True refuses a class or callable outside its allow-list, in torch's current
# and older wordings (each with the name it refused); anything else it refuses (an unknown
# opcode, say) is a damaged file.
_UNSAFE_PATTERNS = (
    r"unsupported GLOBAL (\S+) whose module \S+ is blocked",  # os, posix, sys, nt (torch >= 2.5)
    r"Unsupported global: GLOBAL (\S+) was not an allowed global",  # torch >= 2.4
    r"Unsupported class (\S+)",  # torch 1.13 - 2.3
    r"Trying to call reduce for unrecognized function (.+)",
    r"Can only create new object for nn.Parameter or classes allowlisted .* but got (.+)",
    r"Can only build Tensor, Parameter, OrderedDict or types allowlisted .* but got (.+)",
)
_TORCH_ADVICE = ("Weights only load failed", "Please file", "WeightsUnpickler error", "Check the")


def _unsafe_reason(error: BaseException) -> str | None:
    """The global or callable the file would run, when ``weights_only`` refused it as unsafe."""
    text = str(error)
    for pattern in _UNSAFE_PATTERNS:
        found = re.search(pattern, text)
        if found:
            return found.group(1).strip().rstrip(".")[:200]
    return None


# a pickle stream starts with PROTO (0x80) and its version; torch.save's legacy (pre-1.6) format
# is a pickle stream too, starting with this magic number, which weights_only reads
_PICKLE_PROTOCOLS = {bytes([0x80, version]) for version in range(2, 6)}
_LEGACY_TORCH_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")


def _plain_pickle(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(len(_LEGACY_TORCH_MAGIC))
    return head[:2] in _PICKLE_PROTOCOLS and not head.startswith(_LEGACY_TORCH_MAGIC)


def _unreadable(path: Path, error: BaseException) -> ValueError:
    size = path.stat().st_size
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    own = [line for line in lines if not line.startswith(_TORCH_ADVICE)]  # e.g. "Ran out of input"
    detail = (own or [type(error).__name__])[0][:200]
    return ValueError(
        f"{path}: cannot read the checkpoint ({size} bytes; {detail}); it is empty, truncated "
        "(a full disk, a copy that did not finish) or not a torch file"
    )


def save_torch(value: Any, path: str | Path, sync: bool = False) -> None:
    """``torch.save`` into a temporary file beside ``path``, renamed into place. It writes
    through a Python file, so a full disk surfaces as an ``OSError`` with its errno (torch's own
    file writer says ``file write failed`` or ``iostream error`` and nothing else), and the
    error names ``path`` and the bytes it needed. ``sync``: on disk before the rename."""

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            torch.save(value, handle)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())

    write_atomically(Path(path), save, needed=tensor_bytes(value))


def tensor_bytes(value: Any) -> int:
    """The bytes of every tensor in a checkpoint: nearly all of its size on disk."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(item) for item in value)
    return 0
